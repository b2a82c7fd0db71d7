"""Rasa's own action server, for the comparison in bench/dialogue.py: rasa_sdk's Sanic server
running this project's custom actions on its own copy of the case database, so `rasa run
--enable-api` serves the same model with the same actions. Usage: rasa_peer.py PORT DATA_DIR"""
from __future__ import annotations

import sys
from pathlib import Path

# run as a script, this folder would come first on sys.path and bench/cases.py would shadow cases/
sys.path[0] = str(Path(__file__).resolve().parent.parent)


def run_action_server(port: int, data_dir: Path) -> None:
    from rasa_sdk.endpoint import create_app

    from bot.runtime import Runtime, install
    from hotline.services import Services
    from hotline.settings import Settings

    app = create_app("bot.actions")

    @app.listener("before_server_start")
    async def start(app_, loop):  # the case store's connections must belong to Sanic's loop
        services = await Services.create(Settings(data_dir=data_dir))
        install(Runtime.build(services.store, services.settings.timezone))

    app.run(host="127.0.0.1", port=port, workers=1, access_log=False)  # Sanic 21.12 (Rasa 3.6's)


if __name__ == "__main__":
    run_action_server(int(sys.argv[1]), Path(sys.argv[2]))
