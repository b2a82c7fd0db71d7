"""MemoizationPolicy with nothing memorised answers at once.

MemoizationPolicy remembers the turns of training stories; this bot is driven by rules
(`bot/data/rules.yml`) and has no stories yet, so its memory is empty. Rasa still has it work out
the conversation's past states (every event replayed into a fresh tracker) on each prediction,
~1 ms per turn, only to find nothing and predict no action. With an empty memory it now predicts
no action straight away: the same prediction. Once stories are written, it works as before.
"""
from __future__ import annotations


def install() -> None:
    from rasa.core.policies.memoization import MemoizationPolicy

    if getattr(MemoizationPolicy.predict_action_probabilities, "shortcut", False):
        return
    predict = MemoizationPolicy.predict_action_probabilities

    def predict_action_probabilities(self, tracker, domain, rule_only_data=None, **kwargs):
        if not self.lookup:
            return self._prediction(self._default_predictions(domain))
        return predict(self, tracker, domain, rule_only_data=rule_only_data, **kwargs)

    predict_action_probabilities.shortcut = True
    predict_action_probabilities.original = predict
    MemoizationPolicy.predict_action_probabilities = predict_action_probabilities
