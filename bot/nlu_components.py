"""This project's own step in the Rasa NLU pipeline (config.yml): satisfaction answers as grades.

DIET tags the words of a satisfaction answer; the survey needs 1/2/3. Synonyms map only the exact
words seen in training, so this step grades the tagged words, or the whole message when the
intent is `rate` and nothing was tagged ("太让人失望了").
"""
from __future__ import annotations

from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from .satisfaction import grade

ENTITY = "satisfaction"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class SatisfactionGrader(GraphComponent):
    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SatisfactionGrader":
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get("text") or ""
            entities = message.get("entities") or []
            tagged = [e for e in entities if e.get("entity") == ENTITY]
            for e in tagged:
                value = grade(str(e.get("value"))) or grade(text)
                if value:
                    e["value"] = value
                else:
                    entities.remove(e)
            if not tagged and (message.get("intent") or {}).get("name") == "rate":
                value = grade(text)
                if value:
                    entities.append({"entity": ENTITY, "value": value, "start": 0, "end": len(text),
                                     "extractor": type(self).__name__})
            message.set("entities", entities, add_to_output=True)
        return messages
