"""New kits for a trained model: grow its kit classifier and the synthesiser's conditioning.

The synthesiser is conditioned on [class one-hot, kit probabilities], so a new kit adds an
output to the kit classifier and an input to every layer that reads the conditioning (the
FiLM layers and the envelope's first layer). Each new kit starts as a copy of a known kit
(`like`: the kit the classifier hears in the new kit's recordings; by default the mean of
the known kits), made so that the model's outputs on the kits it knows do not change:

- its classifier row is the copied kit's, with a bias `KIT_LOGIT_MARGIN` lower: its logit
  is always that far below a known logit, so its probability is at most exp(-16) (1e-7) on
  any input, and on the new kit's recordings it starts that far from being chosen;
- its conditioning input is the copied kit's (it sounds like that kit until it is
  trained), and the envelope's new hidden units start at zero with zero output weights.
"""

from dataclasses import replace

import torch

from .model import InverseDrumMachine

KIT_LOGIT_MARGIN = 16.0
"""How far below the mean known logit a new kit's logit starts."""


def _copies(rows: torch.Tensor, sources: list) -> torch.Tensor:
    """One row per new kit along dim 0: row `i` of `rows` for a source i, their mean for None."""
    return torch.stack([rows.mean(0) if i is None else rows[i] for i in sources])


def _grow_inputs(weight: torch.Tensor, first_kit: int, n_known: int, sources: list) -> torch.Tensor:
    """Append one input column per new kit, copied from the known kit columns (see `_copies`)."""
    known = weight[:, first_kit:first_kit + n_known].t()
    return torch.cat([weight, _copies(known, sources).t()], 1)


def with_new_kits(model: InverseDrumMachine, names, like: dict = None) -> InverseDrumMachine:
    """A copy of `model` that also knows the kits `names` (those it knows already are left as they
    are), appended after its own; `like` maps a new kit to the known kit it starts as (default:
    the mean of the known kits). `model` itself is unchanged. See the module docstring."""
    config, like = model.config, {k.lower(): v.lower() for k, v in (like or {}).items()}
    new = [n for n in dict.fromkeys(str(n).lower() for n in names) if n not in config.kits]
    if not new:
        return model
    unknown = sorted(v for v in like.values() if v not in config.kits)
    if unknown:
        raise ValueError(f"kit {unknown[0]!r} to copy is not one of the model's kits ({', '.join(config.kits)})")
    sources = [config.kits.index(like[n]) if n in like else None for n in new]
    known, n_new, k = config.n_kits, len(new), config.n_classes
    grown = InverseDrumMachine(replace(config, n_kits=known + n_new, kit_names=config.kits + tuple(new)))
    state = {name: t.detach().clone() for name, t in model.state_dict().items()}
    out_w, out_b = state["kit_classifier.out.weight"], state["kit_classifier.out.bias"]
    state["kit_classifier.out.weight"] = torch.cat([out_w, _copies(out_w, sources)])
    state["kit_classifier.out.bias"] = torch.cat([out_b, _copies(out_b, sources) - KIT_LOGIT_MARGIN])
    for name in [n for n in state if n.startswith("synth.blocks.") and n.endswith(".film.weight")]:
        state[name] = _grow_inputs(state[name], k, known, sources)
    hidden_w, hidden_b = state["synth.envelope.hidden.weight"], state["synth.envelope.hidden.bias"]
    hidden_w = _grow_inputs(hidden_w, k, known, sources)
    state["synth.envelope.hidden.weight"] = torch.cat([hidden_w, hidden_w.new_zeros(n_new, hidden_w.shape[1])])
    state["synth.envelope.hidden.bias"] = torch.cat([hidden_b, hidden_b.new_zeros(n_new)])
    out = state["synth.envelope.out.weight"]
    state["synth.envelope.out.weight"] = torch.cat([out, out.new_zeros(out.shape[0], n_new)], 1)
    grown.load_state_dict(state)
    return grown.to(next(model.parameters()).device).train(model.training)
