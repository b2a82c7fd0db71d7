"""A training says how far it is: each component Rasa trains, and the epochs of the neural ones
every tenth of the way, as the gateway's own log lines (no tqdm bar)."""
import logging

from bot.training_progress import training_progress


def test_training_reports_components_and_epochs(caplog):
    caplog.set_level(logging.INFO, logger="hotline.bot")
    hooks = logging.getLogger("rasa.engine.training.hooks")
    with training_progress():
        import rasa.utils.train_utils as train_utils

        hooks.info("Starting to train component 'DIETClassifier'.")
        bar = train_utils.RasaTrainingLogger(20, silent=False)  # what Rasa's training builds
        for epoch in range(20):
            bar.on_epoch_end(epoch, {"loss": 1.0})
        hooks.info("Finished training component 'DIETClassifier'.")
    lines = [r.getMessage() for r in caplog.records if r.name == "hotline.bot"]
    epochs = [line for line in lines if "epoch" in line]
    assert lines[0] == "training: DIETClassifier"
    assert epochs[0].startswith("training: DIETClassifier epoch 2/20") and len(epochs) == 10
    assert epochs[-1].startswith("training: DIETClassifier epoch 20/20")
    assert lines[-2].startswith("training: DIETClassifier done in") and lines[-1].startswith("training: finished in")
    # the hooks and the callback are Rasa's own again afterwards
    from rasa.utils.tensorflow.callback import RasaTrainingLogger
    assert train_utils.RasaTrainingLogger is RasaTrainingLogger and not hooks.handlers
