"""The audio's cost in the pictures' pass against a pass of its own:
``python -m benchmarks.audio_pass [--seconds S] [--repeats N]``.

One generated file (ffmpeg: a 640x360 30 fps H.264 test pattern with 44.1 kHz stereo AAC, a
tone and noise so the encoder has something to code), ``--seconds`` long. CPU time (this
process and its decoder threads, ``time.process_time``) and wall time, the best of
``--repeats`` runs each, of:
- ``pictures``: the video decoded as the indexer decodes it (``decode_frames``: every frame,
  no sampling, so the difference is the audio's and not the sampler's noise);
- ``pictures+audio``: the same loop demuxing the audio too, decoded and resampled to 16 kHz
  mono float32 (``AudioDecoder``: what the indexer does when a file's speech is wanted);
- ``audio alone``: ``read_audio``, the separate pass (a second open and read of the file).
Prints a table; writes JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path


def make_file(path: Path, seconds: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
        + ["-f", "lavfi", "-i", f"anoisesrc=c=pink:a=0.05:r=44100:d={seconds}"]
        + ["-filter_complex", "[1:a][2:a]amix=inputs=2,aformat=channel_layouts=stereo[a]"]
        + ["-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
        + ["-c:a", "aac", "-b:a", "128k", "-t", str(seconds), str(path)],
        check=True,
    )
    return path


def best(run, repeats: int) -> tuple[float, float]:
    """(CPU s, wall s), the smallest of ``repeats`` runs each."""
    cpu, wall = [], []
    for _ in range(repeats):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - cpu0)
        wall.append(time.perf_counter() - wall0)
    return min(cpu), min(wall)


def measure(path: Path, repeats: int) -> dict[str, dict[str, float]]:
    from indexer.audio import AudioDecoder, read_audio
    from indexer.frames import decode_frames

    def pictures() -> None:
        for _ in decode_frames(path, 224):
            pass

    def pictures_and_audio() -> None:
        audio = AudioDecoder()
        for _ in decode_frames(path, 224, audio=audio):
            pass
        assert audio.finish().audio.samples.size

    def audio_alone() -> None:
        assert read_audio(path).audio.samples.size

    results = {}
    for name, run in (
        ("pictures", pictures),
        ("pictures+audio", pictures_and_audio),
        ("audio alone", audio_alone),
    ):
        cpu, wall = best(run, repeats)
        results[name] = {"cpu_s": round(cpu, 4), "wall_s": round(wall, 4)}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="file length [20]")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, best kept [3]")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp) / "pass.mp4", args.seconds)
        results = measure(path, args.repeats)
    in_pass = results["pictures+audio"]["cpu_s"] - results["pictures"]["cpu_s"]
    alone = results["audio alone"]["cpu_s"]
    payload = {
        "seconds": args.seconds,
        "repeats": args.repeats,
        "runs": results,
        "audio_cpu_s_in_pass": round(in_pass, 4),
        "audio_cpu_s_alone": round(alone, 4),
        "audio_cpu_ms_per_media_s_in_pass": round(1000 * in_pass / args.seconds, 3),
        "audio_cpu_ms_per_media_s_alone": round(1000 * alone / args.seconds, 3),
    }
    for name, run in results.items():
        print(f"{name:15} cpu {run['cpu_s']:8.3f} s   wall {run['wall_s']:8.3f} s")
    print(
        f"audio: {payload['audio_cpu_ms_per_media_s_in_pass']} ms CPU per second of media in "
        f"the pictures' pass, {payload['audio_cpu_ms_per_media_s_alone']} ms in a pass of its own"
    )
    if args.out is not None:
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    return payload


if __name__ == "__main__":
    main()
