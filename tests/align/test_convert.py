"""CTranslate2 -> openai-whisper conversion: every tensor mapped, and the proof: greedy decoding
from both engines on the same weights gives identical tokens."""

import json

import numpy as np
import torch

from modal_functions.align.audio import load_audio
from modal_functions.align.convert import bundled_ct2_dir, ensure_openai_checkpoint, map_state_dict
from modal_functions.align.ct2_reader import read_ct2_model
from modal_functions.align.engines import GREEDY, DecodeOptions


def test_mapping_covers_every_parameter_in_float16(data_dir):
    from whisper.model import ModelDimensions, Whisper

    spec, variables = read_ct2_model(bundled_ct2_dir() / "model.bin")
    assert spec == "WhisperSpec"
    dims, state = map_state_dict(variables)
    expected = Whisper(ModelDimensions(**dims)).state_dict()
    assert set(state) == set(expected)
    for name, tensor in expected.items():
        assert state[name].shape == tuple(tensor.shape), name
        assert state[name].dtype == np.float16
    # fused q/k/v split: q rows are the first third of CTranslate2's fused matrix
    fused = variables["encoder/layer_0/self_attention/linear_0/weight"]
    assert np.array_equal(state["encoder.blocks.0.attn.query.weight"], fused[: fused.shape[0] // 3])


def test_checkpoint_is_cached_and_carries_alignment_heads(data_dir):
    path = ensure_openai_checkpoint(data_dir)
    assert ensure_openai_checkpoint(data_dir) == path  # second call: same file, no reconversion
    ckpt = torch.load(path, weights_only=True)
    heads = json.loads((bundled_ct2_dir() / "config.json").read_text())["alignment_heads"]
    assert ckpt["alignment_heads"] == heads
    assert all(t.dtype == torch.float16 for t in ckpt["model_state_dict"].values())


def test_greedy_tokens_identical_on_both_engines(fw32_engine, openai_engine, gapped_clip, sentence_clip):
    """Two clips here (word-joined and continuous speech); the bench checks every bench clip."""
    opts = DecodeOptions(language="en", beam_size=GREEDY)
    for clip in (gapped_clip, sentence_clip):
        audio = load_audio(clip.path)
        a, b = fw32_engine.transcribe(audio, opts), openai_engine.transcribe(audio, opts)
        assert a.tokens and a.tokens == b.tokens, clip.path.name
        assert a.text == b.text
