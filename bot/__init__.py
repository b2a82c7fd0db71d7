"""The hotline's dialogue engine: the Rasa bot, its actions and the turn contract every channel uses."""
import sys

# TensorFlow 2.12's TFLite helpers import JAX if it is installed (Rasa pulls it in), only to convert
# JAX models, which the bot never does: that import alone holds ~85 MB of resident memory in every
# gateway process. TensorFlow treats a failing import as "no JAX". (Code that needs JAX in the same
# process must import it before this package.)
sys.modules.setdefault("jax", None)
