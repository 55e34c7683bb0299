"""Human-guided auxiliary-classifier selection (paper 004): look at each layer's neuron groups for positive vs
negative images, choose layers (a person, or the top-k by separability), retrain with auxiliary heads there,
and verify by k-fold cross-validation and the ablation table."""

from aelab.selection.ablation import AblationSetting, ablation_rows, ablation_settings, paper_accuracy, run_ablation
from aelab.selection.choice import (LayerChoice, candidate_layers, choose_layers, settle_choice, short_name,
                                   top_layers)
from aelab.selection.crossval import FoldScores, cross_validate, fold_configs, layers_label, paired_difference
from aelab.selection.evidence import LayerEvidence, SelectionEvidence, gather_evidence
from aelab.selection.experiment import PAPER_AUX_LAYERS, layer_candidates, probe_layers, sentiment_config

__all__ = [
    "PAPER_AUX_LAYERS", "AblationSetting", "FoldScores", "LayerChoice", "LayerEvidence", "SelectionEvidence", "ablation_rows",
    "ablation_settings", "candidate_layers", "choose_layers", "cross_validate", "fold_configs", "gather_evidence",
    "layer_candidates", "layers_label", "paired_difference", "paper_accuracy", "probe_layers", "run_ablation",
    "sentiment_config", "settle_choice", "short_name", "top_layers",
]
