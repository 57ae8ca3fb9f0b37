"""Language tags whose code is not Whisper's: Norwegian Bokmål is "nb" (browsers send "nb-NO"),
Javanese "jv", Filipino "fil", and the old "iw"/"in"/"ji" are still sent for Hebrew, Indonesian and
Yiddish. Whisper names these "no", "jw", "tl", "he", "id", "yi"; the tags were refused as
`unsupported_language` for languages Whisper speaks."""

import pytest

from modal_functions.align import capability
from modal_functions.contract.align import TranscribeAudioRequest
from modal_functions.errors import CapabilityError
from modal_functions.runtime.context import LocalTaskContext

ALIASES = {"nb-NO": "no", "nb": "no", "jv": "jw", "fil-PH": "tl", "iw": "he", "in": "id", "ji": "yi"}


@pytest.mark.parametrize("tag", sorted(ALIASES))
def test_a_tag_for_a_language_whisper_speaks_passes_the_language_check(tag):
    with pytest.raises(CapabilityError) as e:  # the next check: this model is not installed here
        capability.validate(TranscribeAudioRequest(audio="artifacts/sha256/aa/x.wav", language=tag, model="large-v3"))
    assert e.value.code == "unknown_model"


def test_whisper_is_asked_for_its_own_code(monkeypatch, gapped_clip):
    asked = []

    class Stop(Exception):
        pass

    def fake_align(state, audio, **kw):
        asked.append(kw["language"])
        raise Stop

    class State:
        def engine(self, name, model):
            return None

    monkeypatch.setattr(capability, "_installed", lambda model: True)
    monkeypatch.setattr(capability, "align", fake_align)
    for tag in sorted(ALIASES):
        req = TranscribeAudioRequest(audio=str(gapped_clip.path), language=tag, model="small")
        with LocalTaskContext(allow_local_paths=True) as ctx, pytest.raises(Stop):
            capability.run(State(), req, ctx)
    assert asked == [ALIASES[tag] for tag in sorted(ALIASES)]
