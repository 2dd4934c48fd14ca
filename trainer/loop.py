"""The training loop: plain torch, seeded, resumable, cancellable, reporting JSON lines.

Files in the run folder (one per project: ``cache/train/audio2exp/``):

- ``last.safetensors``: the adapter's weights now, with the JSON metadata block the driver
  reads (see :mod:`core.motion.audio2exp`); loadable as a model at any time, also after a
  cancel. Written every ``checkpoint_every`` steps, at the end and on cancel.
- ``last.optim.safetensors``: AdamW's moments flattened (``state.<i>.<name>``), the data
  sampler's and torch's RNG states; ``param_groups`` and the loop's counters as metadata.
  With it ``resume`` continues exactly where the last checkpoint stopped.
- ``best.safetensors``: the weights with the best validation loss so far (early stopping
  keeps these; they are what a finished job publishes). The untrained step-0 adapter is the
  first candidate: for a residual adapter that is the viseme driver itself, so a run that
  only overfits publishes no change rather than a worse driver.

Progress lines on ``emit`` (stdout by default): ``{"step", "loss", "l1", "vel", "silent",
"val", "eta_s"}`` every ``log_every`` steps; other lines carry an ``"event"`` key.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_write_bytes
from core.keypoints.regions import load_regions
from core.motion.audio2exp import BACKEND, FORMAT, METADATA_KEY, VERSION, read_metadata
from trainer.data import Corpus
from trainer.losses import LossWeights, masked_l1, silent_l1, total_loss, velocity_l1
from trainer.model import (
    Audio2Exp,
    Audio2ExpEnsemble,
    ModelConfig,
    alpha_at,
    build_model,
    members_of,
)

Emit = Callable[[dict[str, Any]], None]


def print_json(record: dict[str, Any]) -> None:
    """One JSON object per line on stdout, flushed (the window reads it through a pipe)."""
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


@dataclass
class TrainConfig:
    """Everything that shapes a run; stored in each checkpoint's metadata."""

    steps: int = 1500
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-2
    alpha_ramp: float = 0.1  # share of the steps over which α grows from 0 to 1
    eval_every: int = 25
    checkpoint_every: int = 250
    log_every: int = 10
    patience: int = 12  # evaluations without a better validation loss before stopping
    min_delta: float = 1e-5
    seed: int = 0
    device: str = "auto"
    # small and heavily regularised: a few seconds of footage (chosen by the blocked
    # cross-validation inside the training part of bench/train_quality.py's clips)
    channels: int = 8
    hidden: int = 16
    dropout: float = 0.5
    basis: int = 6  # lip-motion modes the output is limited to (0 = every point free)
    vis_context: int = 2  # residual on the base driver, seen ±frames (-1: absolute ΔE)
    base: str = "learned"  # the driver the adapter corrects (the job builds its corpus so)
    folds: int = 5  # blocks of the footage for cross-validation (≤ 1: last 20 % validates)
    seeds: int = 1  # nets per fold (differently initialised and sampled), all averaged
    losses: LossWeights = field(default_factory=LossWeights)

    def to_json(self) -> dict:
        d = asdict(self)
        d["losses"] = self.losses.to_json()
        return d

    @property
    def ramp_steps(self) -> int:
        return int(round(self.alpha_ramp * self.steps))


@dataclass
class TrainResult:
    """How a run ended and where its weights are."""

    status: str  # "done" | "early_stopped" | "cancelled"
    step: int
    best_val: float
    best_step: int
    initial_val: float
    last: Path
    best: Path
    seconds: float
    meta: dict[str, Any]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Cosine decay from lr to lr/10 over the run (a pure function of the step: resumable)."""
    t = min(1.0, step / max(cfg.steps, 1))
    return cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(path: Path, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Weights + the JSON block, written to a temp file and renamed (never half a file)."""
    from safetensors.torch import save

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(state, metadata={METADATA_KEY: json.dumps(meta)}))


def _save_optimizer(path: Path, opt: torch.optim.Optimizer, gen: torch.Generator,
                    counters: dict[str, Any]) -> None:
    from safetensors.torch import save

    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"state.{pid}.{k}"] = t.detach().to("cpu").contiguous().clone()
    tensors["rng.sampler"] = gen.get_state()
    tensors["rng.torch"] = torch.random.get_rng_state()
    meta = {"param_groups": json.dumps(sd["param_groups"]), "counters": json.dumps(counters)}
    atomic_write_bytes(path, save(tensors, metadata=meta))


def _load_optimizer(path: Path, opt: torch.optim.Optimizer, gen: torch.Generator,
                    device: torch.device) -> dict[str, Any]:
    from safetensors import safe_open

    state: dict[int, dict[str, torch.Tensor]] = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        for key in f.keys():
            t = f.get_tensor(key)
            if key == "rng.sampler":
                gen.set_state(t)
            elif key == "rng.torch":
                torch.random.set_rng_state(t)
            else:
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = t if name == "step" else t.to(device)
    opt.load_state_dict({"state": state, "param_groups": json.loads(meta["param_groups"])})
    return json.loads(meta.get("counters", "{}"))


class _Evaluator:
    """Validation L1 at α = 1 (how the adapter is used), on fixed unaugmented frames: the
    mean of each fold's nets on that fold's validation frames, pooled over the folds (the
    cross-validated loss of the ensemble's parts)."""

    def __init__(self, folds: list[Corpus], device: torch.device, vis_context: int,
                 point_weight: torch.Tensor) -> None:
        self.folds = [{k: t.to(device) for k, t in f.validation(vis_context).items()}
                      for f in folds]
        self.pw = point_weight.to(device)

    def __call__(self, nets: list[Audio2Exp]) -> float:
        """``nets[j]`` belongs to fold ``j % len(folds)``."""
        k = len(self.folds)
        total, count = torch.zeros(()), torch.zeros(())
        for f, v in enumerate(self.folds):
            group = nets[f::k]
            for net in group:
                net.eval()
            with torch.no_grad():
                for a in range(0, len(v["mel"]), 1024):
                    s = slice(a, a + 1024)
                    pred = torch.stack([
                        adapter_delta(net, v["mel"][s], v["ref"][s], v["weight"][s],
                                      v["vis"][s] if "vis" in v else None, v["vis_now"][s])
                        for net in group]).mean(dim=0)
                    err = ((pred - v["target"][s]).abs().mean(dim=2) * self.pw).mean(dim=1)
                    total = total + (err * v["mask"][s]).sum().cpu()
                count = count + v["mask"].sum().cpu()
            for net in group:
                net.train()
        return float(total / count) if count > 0 else float("nan")


def adapter_delta(model: Audio2Exp | Audio2ExpEnsemble, mel: torch.Tensor, ref: torch.Tensor,
                  weight: torch.Tensor, vis: torch.Tensor | None, vis_now: torch.Tensor,
                  alpha: float = 1.0) -> torch.Tensor:
    """ΔE as the driver makes it: ΔE_vis + α·correction (residual), else α·output."""
    out = alpha * model(mel, ref, weight, vis)
    return vis_now + out if model.cfg.residual else out


def train(
    corpus: Corpus | Sequence[Corpus],
    run_dir: str | Path,
    config: TrainConfig | None = None,
    *,
    tracker: str = "mediapipe",
    resume: bool = False,
    emit: Emit | None = print_json,
    cancel: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train (or resume training) the adapter on ``corpus``; checkpoints go to ``run_dir``.

    ``corpus`` may be the folds of a cross-validation (:func:`trainer.data.fold_corpora`):
    ``config.seeds`` nets per fold are trained on the rest, the validation loss is that of
    each fold's nets (averaged) on the fold, pooled, and the model is the ensemble of all
    the nets; early stopping picks its step, step 0 (no change) included.
    """
    cfg = config or TrainConfig()
    folds = [corpus] if isinstance(corpus, Corpus) else list(corpus)
    corpus = folds[0]
    if any(f.points.tolist() != corpus.points.tolist() for f in folds):
        raise ValueError("the folds' lip points differ")
    if any(f.base != corpus.base for f in folds):
        raise ValueError("the folds correct different base drivers")
    emit = emit or (lambda _r: None)
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    last, last_opt, best_path = (run / "last.safetensors", run / "last.optim.safetensors",
                                 run / "best.safetensors")
    device = pick_device(cfg.device)
    regions = load_regions(tracker)
    scale = corpus.target_scale
    mcfg = ModelConfig(n_points=len(corpus.points), n_mels=corpus.mel.n_mels,
                       window=corpus.mel.window, channels=cfg.channels, hidden=cfg.hidden,
                       dropout=cfg.dropout, out_scale=round(max(scale, 1e-4) * 2, 6),
                       basis=cfg.basis, vis_context=cfg.vis_context,
                       members=len(folds) * max(1, cfg.seeds))
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, best_val, best_step, since_best, spent = 0, math.inf, 0, 0, 0.0
    initial_val = math.nan
    resumed = resume and last.is_file() and last_opt.is_file()
    if resumed:
        meta = read_metadata(last)
        mcfg = ModelConfig.from_json(meta["model"])
        if list(map(int, meta["points"])) != corpus.points.tolist():
            raise ValueError("the corpus's lip points differ from the checkpoint's")
        if mcfg.members % len(folds):
            raise ValueError(f"the checkpoint has {mcfg.members} nets, not a multiple of "
                             f"the corpus's {len(folds)} folds")
    model = build_model(mcfg, cfg.seed)
    nets = members_of(model)
    net_folds = [folds[j % len(folds)] for j in range(len(nets))]
    if mcfg.basis > 0 and not resumed:
        for net, fold in zip(nets, net_folds, strict=True):
            net.modes.copy_(fold.modes(mcfg.basis) / mcfg.out_scale)
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resumed:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(last), device=str(device)))
        counters = _load_optimizer(last_opt, opt, gen, device)
        step = int(meta["step"])
        best_val = float(counters.get("best_val", math.inf))
        best_step = int(counters.get("best_step", 0))
        since_best = int(counters.get("since_best", 0))
        spent = float(counters.get("seconds", 0.0))
        initial_val = float(counters.get("initial_val", math.nan))
    best_state = _cpu_state(model)
    if resumed and best_path.is_file():
        from safetensors.torch import load_file

        best_state = load_file(str(best_path))
    k = mcfg.vis_context
    point_weight = corpus.point_weight(cfg.losses.lips).to(device)
    scored = _Evaluator(folds, device, k, point_weight)

    def evaluate(m: torch.nn.Module) -> float:
        return scored(members_of(m))

    if math.isnan(initial_val):
        initial_val = evaluate(model)
    ramp = cfg.ramp_steps
    val = initial_val if not resumed else (best_val if math.isfinite(best_val) else None)

    started = time.perf_counter()

    def seconds() -> float:
        """Training time over all runs of this checkpoint (resumes add up)."""
        return spent + time.perf_counter() - started

    def meta_for(status: str, at: int, val_now: float | None) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": VERSION, "step": at, "status": status,
            "backend": BACKEND, "tracker": tracker, "n_points_total": regions.n_points,
            "points": [int(i) for i in corpus.points], "mel": corpus.mel.to_json(),
            "model": mcfg.to_json(), "train": cfg.to_json(), "base": corpus.base,
            "alpha": alpha_at(at - 1, ramp) if at else 0.0,
            "val": val_now, "initial_val": initial_val,
            "best_val": best_val if math.isfinite(best_val) else None, "best_step": best_step,
            "clips": corpus.describe(), "seconds": round(seconds(), 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def checkpoint(status: str) -> None:
        save_weights(last, _cpu_state(model), meta_for(status, step, val))
        counters = {"best_val": best_val if math.isfinite(best_val) else None,
                    "best_step": best_step, "since_best": since_best, "seconds": seconds(),
                    "initial_val": initial_val}
        counters = {k: v for k, v in counters.items() if v is not None}
        _save_optimizer(last_opt, opt, gen, counters)
        emit({"event": "checkpoint", "step": step, "path": str(last)})

    if not resumed:
        # the untrained adapter (the viseme driver, for a residual one) is the first
        # candidate: training must beat it on the validation frames to be kept
        best_val, best_step = initial_val, 0
        save_weights(best_path, best_state, meta_for("best", 0, initial_val))
    emit({"event": "resumed" if resumed else "start", "step": step, "steps": cfg.steps,
          "frames_train": int(corpus.train_frame.sum()) if len(folds) == 1
          else int(len(corpus.train_frame)), "folds": len(folds),
          "frames_val": int(sum(len(f.val_frames) for f in folds)),
          "val": initial_val, "device": str(device)})
    status = "done"
    loop_started = time.perf_counter()
    start_step = step
    model.train()
    while step < cfg.steps:
        if cancel is not None and cancel():
            status = "cancelled"
            break
        alpha = alpha_at(step, ramp)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        terms: dict[str, torch.Tensor] = {}
        for net, fold in zip(nets, net_folds, strict=True):  # each net on its fold's rest
            b = {name: (v.to(device) if torch.is_tensor(v) else v)
                 for name, v in fold.batch(cfg.batch, gen, vis_context=k).items()}
            pred = adapter_delta(net, b["mel"], b["ref"], b["weight"], b.get("vis"),
                                 b["vis_now"], alpha)
            part = {"l1": masked_l1(pred, b["target"], b["mask"], point_weight),
                    "vel": velocity_l1(pred, b["target"], b["mask"], b["seq"], point_weight)}
            if cfg.losses.silent:
                part["silent"] = silent_l1(net(b["silent_mel"], b["silent_ref"],
                                               b["silent_weight"], b.get("silent_vis")))
            for name, value in part.items():
                terms[name] = terms.get(name, 0.0) + value / len(nets)
        loss = total_loss(terms, cfg.losses)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for net in nets:
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        stop = False
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val = evaluate(model)
            if val < best_val - cfg.min_delta:
                best_val, best_step, since_best = val, step, 0
                best_state = _cpu_state(model)
                save_weights(best_path, best_state, meta_for("best", step, val))
            elif step >= ramp:
                since_best += 1
                stop = since_best >= cfg.patience
        elapsed = time.perf_counter() - loop_started
        if step % cfg.log_every == 0 or step == cfg.steps or stop:
            per_step = elapsed / max(step - start_step, 1)
            emit({"step": step, "loss": round(loss.item(), 6),
                  "l1": round(terms["l1"].item(), 6), "vel": round(terms["vel"].item(), 6),
                  "silent": round(terms["silent"].item(), 6) if "silent" in terms else 0.0,
                  "val": None if val is None else round(val, 6),
                  "eta_s": round(per_step * (cfg.steps - step), 1)})
        if step % cfg.checkpoint_every == 0 and step < cfg.steps and not stop:
            checkpoint("running")
        if stop:
            status = "early_stopped"
            emit({"event": "early_stop", "step": step, "best_step": best_step,
                  "best_val": round(best_val, 6)})
            break
    checkpoint(status)
    if not best_path.is_file() or not math.isfinite(best_val):
        best_val = evaluate(model) if step else initial_val
        best_step = step
        best_state = _cpu_state(model)
        save_weights(best_path, best_state, meta_for("best", step, best_val))
    final_meta = meta_for(status, step, val)
    emit({"event": status, "step": step, "best_val": round(best_val, 6),
          "best_step": best_step, "initial_val": round(initial_val, 6),
          "seconds": round(seconds(), 2)})
    return TrainResult(status, step, best_val, best_step, initial_val, last, best_path,
                       seconds(), final_meta)


def publish(result: TrainResult, out: str | Path) -> Path:
    """Write the best weights as a finished model file at ``out`` (its parents are made)."""
    from safetensors.torch import load_file

    state = load_file(str(result.best))
    meta = copy.deepcopy(result.meta)
    meta.update(status="final", weights_step=result.best_step)
    path = Path(out)
    save_weights(path, state, meta)
    return path
