"""The selection panel: look at each layer's neuron groups, tick layers, set the weight, train, compare
(paper 004's human-guided loop; docs/science.md §3 "Auxiliary classifiers", §6).

Per candidate layer a row shows the neuron-group pictures of a few positive and negative images (from the
cached atlas), the separability score with its shuffled control, and a checkbox. "train with these layers"
cross-validates the network with auxiliary heads at the ticked layers against the network without them (the
same folds), with a progress bar, and shows the comparison table; the choice (made by a person), the scores and
the results are kept in ``panel.results`` and written to ``selection.json`` in the run folder.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt

from aelab.notebook import html_table, write_json_atomic
from aelab.selection.choice import LayerChoice, short_name
from aelab.selection.crossval import FoldScores, chosen_against_baseline, cross_validate
from aelab.selection.evidence import LayerEvidence, SelectionEvidence
from aelab.selection.figures import layer_strip, score_text
from aelab.train.config import TrainConfig

ResultCallback = Callable[[dict], None]


def figure_png(figure: plt.Figure) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image``, which keeps its picture in the saved widget
    state); the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


class SelectionPanel:
    """Widgets over one run's :class:`SelectionEvidence`; ``config`` is the training config of the network to
    retrain (architecture ``aux``), ``folds`` the cross-validation folds."""

    def __init__(self, evidence: SelectionEvidence, config: TrainConfig, *, folds: int = 5, aux_weight: float = 0.1,
                 on_result: ResultCallback | None = None):
        self.evidence = evidence
        self.config = config
        self.folds = folds
        self.on_result = on_result
        self.checkboxes = {item.layer: widgets.Checkbox(value=False, description=short_name(item.layer),
                                                        indent=False) for item in evidence.layers}
        self.weight = widgets.FloatSlider(value=aux_weight, min=0.0, max=1.0, step=0.05, description="aux weight",
                                          readout_format=".2f")
        self.train_button = widgets.Button(description="train with these layers", button_style="primary",
                                           icon="play", layout=widgets.Layout(width="auto"))
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="training")
        self.status = widgets.HTML("tick the layers whose groups differ most, then train")
        self.comparison = widgets.HTML("")
        self.results: dict | None = None
        self._baseline: FoldScores | None = None
        self.train_button.on_click(self._train)

    # ---- layout -------------------------------------------------------------------------------------
    def _row(self, item: LayerEvidence) -> widgets.HBox:
        picture = widgets.Image(value=figure_png(layer_strip(item, self.evidence.classes)), format="png")
        score = widgets.HTML(f"<b>{html.escape(short_name(item.layer))}</b><br>separability "
                             f"{html.escape(score_text(item))}")
        return widgets.HBox([widgets.VBox([self.checkboxes[item.layer], score]), picture])

    def widget(self) -> widgets.VBox:
        """The whole panel: a row per layer, then the weight, the button, the progress and the comparison."""
        rows = [self._row(item) for item in self.evidence.layers]
        negative, positive = self.evidence.classes
        header = widgets.HTML(f"<b>Neuron groups of {positive} vs {negative} images per layer</b> (left: "
                              f"{positive}, right: {negative}). Separability: cross-validated balanced accuracy "
                              f"of telling the two apart from the groups; shuffled: the same with random labels.")
        view = widgets.VBox([header, *rows, widgets.HBox([self.weight, self.train_button]), self.progress,
                             self.status, self.comparison])
        view.add_class("aelab-selection")  # a stable name for people's CSS and the browser tests
        return view

    # ---- training ------------------------------------------------------------------------------------
    @property
    def ticked(self) -> list[str]:
        return [layer for layer, box in self.checkboxes.items() if box.value]

    def _advance(self, index: int, folds: int, label: str) -> None:
        self.status.value = html.escape(f"training {label}: fold {index + 1} of {folds} …")
        self.progress.value = min(self.progress.max, self.progress.value + 1)

    def _train(self, button: widgets.Button | None = None) -> None:
        layers = self.ticked
        if not layers:
            self.status.value = "<span style='color:#b00'>tick at least one layer first</span>"
            return
        choice = LayerChoice(layers, "person", [s.to_dict() for s in self.evidence.scores], None,
                             float(self.weight.value))
        self.train_button.disabled = True
        self.progress.value, self.progress.max = 0, self.folds * (1 if self._baseline else 2)
        self.progress.bar_style = ""
        try:
            if self._baseline is None:
                self._baseline = cross_validate(self.config, [], folds=self.folds, on_fold=self._advance)
            chosen = cross_validate(self.config, layers, folds=self.folds, aux_weight=choice.aux_weight,
                                    on_fold=self._advance)
        except Exception as error:  # shown in the panel (and raised) so a failed run never looks finished
            self.progress.bar_style = "danger"
            self.status.value = f"<span style='color:#b00'>training failed: {html.escape(str(error))}</span>"
            raise
        finally:
            self.train_button.disabled = False
        self.progress.value, self.progress.bar_style = self.progress.max, "success"
        rows = chosen_against_baseline(self._baseline, chosen)
        self.comparison.value = html_table(rows, css_class="aelab-comparison")
        self.status.value = html.escape(f"done: {self.folds}-fold cross-validation, auxiliary weight "
                                        f"{choice.aux_weight:.2f}")
        self.results = {"choice": choice.to_dict(), "baseline": self._baseline.to_dict(),
                        "chosen": chosen.to_dict(), "comparison": rows}
        write_json_atomic(self.results, Path(self.evidence.run) / "selection.json")
        if self.on_result is not None:
            self.on_result(self.results)
