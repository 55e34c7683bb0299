"""``build_model``: the registry of multi-task architectures (docs/science.md §3).

``MODELS`` maps an architecture name to a builder ``(backbone, tasks, weights, **options) -> MultiTaskModel``;
a new architecture is one new entry. The two-branch architectures (``cross_stitch``, ``cross_branch``, ``nddr``,
``afi``) come from :data:`~aelab.models.connectors.CONNECTORS`, one each: a new connector there is a new
architecture here. Options common to all: ``dropout`` (before each head's linear layer),
``backbone_options`` (passed to :func:`~aelab.models.backbones.build_backbone`), and, except for AENet,
``vgg_fc`` (VGG16 only: keep fc6/fc7 before each task's linear layer, as the patent does). Two-branch models
and AENet take ``stages``, which stage outputs get a connector (:func:`~aelab.models.connectors.resolve_boundaries`):
"all" = the papers' placement, after every block (ResNet50 / Wide-ResNet ``layer1``..``layer4``, VGG16
``conv1``..``conv5``, GoogLeNet ``3a``..``5b``, tiny every stage; the last connector feeds the heads), except the
patent's cross-branch layers, which go between blocks only (n blocks, n−1 layers); "shallow" / "deep" = the first /
second half of that placement (ResNet: ``layer1, layer2`` / ``layer3, layer4``); or a list of stage names /
1-based stage indices, any stage allowed (the ``stem`` and the last one included).
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable, Sequence
from functools import partial

from aelab.errors import UnknownNameError
from aelab.io import jsonable
from aelab.models.aenet import SHARED, AENet
from aelab.models.auxiliary import AUX_DROPOUT, AuxiliaryClassifiers, aux_sites, probe_channels
from aelab.models.backbones import BACKBONES, Backbone, build_backbone
from aelab.models.connectors import CONNECTORS, resolve_boundaries
from aelab.models.heads import VGG_FC_FEATURES, Head
from aelab.models.initialisation import Init, initialise
from aelab.models.mcn import MCN, vocabulary_from
from aelab.models.multitask import MultiTaskModel, ShareSplit, SingleTaskModels
from aelab.models.twobranch import TwoBranchModel
from aelab.tasks import TASKS, Task, get_task

Weights = str | os.PathLike | dict | None
"""One weights spec for every backbone copy, or ``{branch or stream name: spec}`` (missing names: None)."""


# ---- parts -------------------------------------------------------------------------------------------------


def _weights_for(weights: Weights, branch: str):
    return weights.get(branch) if isinstance(weights, dict) else weights


def _backbone(name: str, weights, backbone_options: dict | None, vgg_fc: bool = False) -> Backbone:
    options = dict(backbone_options or {})
    if name == "vgg16":
        options["keep_classifier"] = bool(vgg_fc)  # fc6/fc7 hold 120 M parameters: only when used
    elif vgg_fc:
        raise ValueError(f"vgg_fc=True needs the vgg16 backbone (its fc6/fc7), got backbone {name!r}")
    return build_backbone(name, weights=weights, **options)


def _head(task: Task, backbone: Backbone, dropout: float, vgg_fc: bool) -> Head:
    """A head reading ``backbone``'s last stage; with ``vgg_fc`` it takes over the backbone's fc6/fc7."""
    if not vgg_fc:
        return Head(task, backbone.out_channels, dropout)
    fc, backbone.classifier_layers = backbone.classifier_layers, None
    return Head(task, VGG_FC_FEATURES, dropout, features=fc)


def _two_tasks(arch: str, tasks: Sequence[Task]) -> None:
    if len(tasks) != 2:
        raise ValueError(f"{arch!r} has two branches and supports exactly two tasks (the first task's branch is "
                         f"A, the second's E); got {len(tasks)}: {[t.name for t in tasks]}. Use 'single' or "
                         f"'share_split' for another number of tasks")


# ---- builders ----------------------------------------------------------------------------------------------


def build_single(backbone: str, tasks: Sequence[Task], weights: Weights, *, dropout: float = 0.0,
                 vgg_fc: bool = False, backbone_options: dict | None = None) -> SingleTaskModels:
    """Single-task baselines: one backbone + head per task (any number of tasks)."""
    nets = {t.name: _backbone(backbone, _weights_for(weights, t.name), backbone_options, vgg_fc) for t in tasks}
    return SingleTaskModels(tasks, nets, {t.name: _head(t, nets[t.name], dropout, vgg_fc) for t in tasks})


def build_share_split(backbone: str, tasks: Sequence[Task], weights: Weights, *, dropout: float = 0.0,
                      vgg_fc: bool = False, backbone_options: dict | None = None) -> ShareSplit:
    """Hard sharing: one trunk, a head per task (any number of tasks); with ``vgg_fc`` each head gets its own
    copy of fc6/fc7 (the split is after the last conv)."""
    trunk = _backbone(backbone, _weights_for(weights, SHARED), backbone_options, vgg_fc)
    fc = trunk.classifier_layers if vgg_fc else None
    heads = {}
    for i, task in enumerate(tasks):
        heads[task.name] = (Head(task, VGG_FC_FEATURES, dropout, features=fc if i == 0 else copy.deepcopy(fc))
                            if vgg_fc else Head(task, trunk.out_channels, dropout))
    if vgg_fc:
        trunk.classifier_layers = None
    return ShareSplit(tasks, trunk, heads)


def build_two_branch(connector: str, backbone: str, tasks: Sequence[Task], weights: Weights, *, stages="all",
                     dropout: float = 0.0, vgg_fc: bool = False, backbone_options: dict | None = None,
                     **options) -> TwoBranchModel:
    """Two branches, one per task, joined by the :data:`~aelab.models.connectors.CONNECTORS` entry ``connector``
    after each stage ``stages`` names (``"all"``: the connector's default placement); ``options``: the
    connector's own (its ``ConnectorKind.options``)."""
    kind = CONNECTORS[connector]
    _two_tasks(connector, tasks)
    nets = {t.name: _backbone(backbone, _weights_for(weights, t.name), backbone_options, vgg_fc) for t in tasks}
    first = nets[tasks[0].name]
    make = kind.factory([t.name for t in tasks], **options)
    connectors = {i: make(first.channels[i - 1]) for i in resolve_boundaries(stages, first, kind.placement)}
    heads = {t.name: _head(t, nets[t.name], dropout, vgg_fc) for t in tasks}
    return kind.model(connector, tasks, nets, connectors, heads)


def two_branch_builder(connector: str) -> Callable[..., TwoBranchModel]:
    """The :data:`MODELS` builder of the architecture named after ``connector``: :func:`build_two_branch` with
    the connector's options as keyword parameters (so :func:`build_model` knows and records them)."""
    kind = CONNECTORS[connector]

    def build(backbone: str, tasks: Sequence[Task], weights: Weights, **options) -> TwoBranchModel:
        return build_two_branch(connector, backbone, tasks, weights, **options)

    common = inspect.signature(build_two_branch).parameters
    own = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
           for name, default in kind.defaults().items()]
    build.__signature__ = inspect.Signature([common[n] for n in ("backbone", "tasks", "weights", "stages")] + own
                                            + [common[n] for n in ("dropout", "vgg_fc", "backbone_options")])
    build.__name__ = build.__qualname__ = f"build_{connector}"
    build.__doc__ = f"Two branches joined by {kind.module.__name__} connectors (see :func:`build_two_branch`)."
    return build


def build_aenet(backbone: str, tasks: Sequence[Task], weights: Weights, *, stages="all", fusion: bool = True,
                private_weight: float = 0.9, shared_weight: float = 0.1, dropout: float = 0.0,
                backbone_options: dict | None = None) -> AENet:
    """Paper 003: three streams fused by scalars at the end of every block (``stages``, as for the two-branch
    models; ResNet50: after ``layer1``..``layer4``); heads on concat(S, A) / concat(S, E)."""
    _two_tasks("aenet" if fusion else "aenet_fl", tasks)
    streams = {s: _backbone(backbone, _weights_for(weights, s), backbone_options)
               for s in (SHARED, *(t.name for t in tasks))}
    boundaries = resolve_boundaries(stages, streams[SHARED]) if fusion else []
    width = 2 * streams[SHARED].out_channels
    heads = {t.name: Head(t, width, dropout) for t in tasks}
    return AENet(tasks, streams, heads, fusion=fusion, private_weight=private_weight, shared_weight=shared_weight,
                 boundaries=boundaries)


def build_aenet_fl(backbone: str, tasks: Sequence[Task], weights: Weights, *, dropout: float = 0.0,
                   backbone_options: dict | None = None) -> AENet:
    """AENet-FL (paper 003 ablation): AENet without fusion layers."""
    return build_aenet(backbone, tasks, weights, fusion=False, dropout=dropout, backbone_options=backbone_options)


def build_aux(backbone: str, tasks: Sequence[Task], weights: Weights, *, aux_layers: Sequence[str] = (),
              aux_weight: float = 0.1, aux_dropout: float = AUX_DROPOUT, aux_tasks: Sequence[str] | None = None,
              base: str = "share_split", base_options: dict | None = None,
              backbone_options: dict | None = None) -> AuxiliaryClassifiers:
    """Paper 004: auxiliary classifiers (GAP → dropout → linear) at ``aux_layers`` of the ``base`` architecture
    (full probe names or unique short ones: ``["4a", "4b", "4d"]``), each weighted ``aux_weight`` in the loss
    and in the prediction (:mod:`aelab.models.auxiliary`). No layers: the base model alone (the ablation's
    baseline). ``base_options``: the base architecture's own options."""
    if base == "aux" or base not in MODELS:
        raise UnknownNameError("base architecture of 'aux'", base, [m for m in MODELS if m != "aux"])
    options = {**(base_options or {}), "backbone_options": backbone_options}
    model = build_model(base, backbone, tasks, weights, **options)
    sites = aux_sites(model, list(aux_layers), aux_tasks)
    channels = probe_channels(model, list(dict.fromkeys(s.layer for s in sites)))
    return AuxiliaryClassifiers(model, sites, channels, weight=aux_weight, dropout=aux_dropout)


def build_mcn(backbone: str, tasks: Sequence[Task], weights: Weights, *, vocabulary: Sequence[str] | str | None = None,
              width: int = 128, layers: int = 2, heads: int = 4, feedforward: int | None = None,
              attention_dropout: float = 0.1, dropout: float = 0.0, max_tokens: int = 64,
              word_vectors: str | None = None, min_count: int = 1, max_words: int | None = 20000,
              co_attention: bool = True, text: bool = True, backbone_options: dict | None = None) -> MCN:
    """Paper 002's MCN-MTL (:mod:`aelab.models.mcn`): image regions × comment words through an STRM per side and
    ``layers`` MTRL layers of ``width`` channels and ``heads`` attention heads; one head per task.
    ``vocabulary``: the word list or a vocabulary file (training fills it from the training comments, keeping
    words seen ``min_count`` times, the ``max_words`` most frequent); ``max_tokens`` words per image are read;
    ``word_vectors``: a GloVe/word2vec text file to initialise the word embeddings."""
    name = ("mcn" if co_attention else "mcn_no_ctrm") if text else "mcn_image"
    net = _backbone(backbone, _weights_for(weights, "image"), backbone_options)
    return MCN(name, tasks, net, vocabulary_from(vocabulary), width=width, layers=layers, heads=heads,
               feedforward=feedforward, attention_dropout=attention_dropout, head_dropout=dropout,
               max_tokens=max_tokens, co_attention=co_attention, text=text, word_vectors=word_vectors)


MODELS: dict[str, Callable[..., MultiTaskModel]] = {
    "single": build_single,
    "share_split": build_share_split,
    **{name: two_branch_builder(name) for name in CONNECTORS},  # cross_stitch, cross_branch, nddr, afi …
    "aenet": build_aenet,
    "aenet_fl": build_aenet_fl,
    "aux": build_aux,
    "mcn": build_mcn,
    "mcn_no_ctrm": partial(build_mcn, co_attention=False),  # paper 002 ablation: no co-attention
    "mcn_image": partial(build_mcn, text=False),  # image-only MCN: same backbone, layers and heads
}


# ---- entry point -------------------------------------------------------------------------------------------


def resolve_task(task: str | Task | dict) -> Task:
    """A Task from its name, itself, or a dict ``{"name", "kind", "classes"}`` (how unregistered tasks are saved)."""
    if isinstance(task, dict):
        return Task(task["name"], task["kind"], tuple(task.get("classes", ())))
    return get_task(task)


def _task_spec(task: Task) -> str | dict:
    if TASKS.get(task.name) == task:
        return task.name
    return {"name": task.name, "kind": task.kind, "classes": list(task.classes)}


def build_model(arch: str, backbone: str = "tiny", tasks: Sequence[str | Task | dict] = ("aesthetic", "emotion"),
                weights: Weights = None, init: Init | None = None, **options) -> MultiTaskModel:
    """The multi-task model ``arch`` (a key of :data:`MODELS`) on ``backbone`` (a key of ``BACKBONES``) for
    ``tasks`` (names, :class:`~aelab.tasks.Task` objects or task dicts; two-branch models and AENet: exactly
    two, the first task's branch is A). ``weights``: None (random init, nothing downloaded), "imagenet", a state
    dict path, or a dict ``{branch/stream name: spec}``. ``init``: ``{branch/stream name: run folder or state-dict
    file}``, loaded strictly over those backbones after ``weights`` (:mod:`aelab.models.initialisation`; paper 000's
    initialisation from single-task networks). ``options``: the builder's keyword options (see each
    ``build_<arch>``; two-branch models: their connector's ``options`` in ``CONNECTORS``); an unknown one
    raises :class:`~aelab.errors.UnknownNameError` listing the known ones.
    The model's ``build_options`` holds every argument, defaults included: ``build_model(**m.build_options)``.
    """
    if arch not in MODELS:
        raise UnknownNameError("architecture", arch, list(MODELS))
    if backbone not in BACKBONES:
        raise UnknownNameError("backbone", backbone, list(BACKBONES))
    builder = MODELS[arch]
    known = {n: p.default for n, p in inspect.signature(builder).parameters.items() if p.kind is p.KEYWORD_ONLY}
    for name in options:
        if name not in known:
            raise UnknownNameError(f"option of architecture {arch!r}", name, sorted(known))
    resolved = [resolve_task(t) for t in ([tasks] if isinstance(tasks, (str, Task, dict)) else tasks)]
    if not resolved:
        raise ValueError("tasks must name at least one task")
    names = [t.name for t in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    bound = {**known, **options}
    model = builder(backbone, resolved, weights, **bound)
    model.build_options = {"arch": arch, "backbone": backbone, "tasks": [_task_spec(t) for t in resolved],
                           "weights": jsonable(weights), **jsonable(bound)}
    if init:
        initialise(model, init)
        model.build_options["init"] = jsonable(dict(init))
    return model
