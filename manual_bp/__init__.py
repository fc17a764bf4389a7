"""manual_bp: backpropagation's four equations (BP1–BP4) written by hand in NumPy.

Importing this package never imports jax: it is the hand-written side of the proof. The network
spec it computes for (`Network`, `Layer`) is bp_spec's, re-exported here for convenience.
"""

from bp_spec import Layer, Network

from .activations import ACTIVATIONS, Activation, get_activation, register_activation
from .backprop import (EQUATIONS, Pieces, Trace, backprop, backprop_per_example, backprop_trace,
                       cost_of, feedforward, output_layer_error, sigmas, total_cost, trace_with)
from .costs import COSTS, Cost, get_cost, register_cost
from .equations import (backpropagate_error, bias_gradient, output_error,
                        regularisation_gradient, weight_gradient)
from .workspace import Workspace

__all__ = [
    "ACTIVATIONS", "COSTS", "EQUATIONS", "Activation", "Cost", "Layer", "Network", "Pieces", "Trace",
    "Workspace",
    "backprop", "backprop_per_example", "backprop_trace", "backpropagate_error", "bias_gradient",
    "cost_of", "feedforward", "get_activation", "get_cost", "output_error", "output_layer_error",
    "register_activation", "register_cost", "regularisation_gradient", "sigmas", "total_cost",
    "trace_with", "weight_gradient",
]
__version__ = "0.1.0"
