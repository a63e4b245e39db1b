"""What differs between the PyAV releases clipdex supports (av 18 on Python 3.11, av 19 on 3.12+).

av 19 removed ``av.open``'s ``metadata_errors`` (metadata is always decoded as UTF-8 with
``surrogateescape``, which cannot fail), removed ``CodecContext.hwaccel`` (clipdex decodes on
the CPU and never used it), and returns ``av.AVRational`` instead of ``fractions.Fraction`` for
rational attributes, never None (an unset one is a falsy ``0/1``); ``AVRational`` supports the
arithmetic and ``float()`` clipdex uses, so ``stream.time_base or default`` works on both.
"""

from __future__ import annotations

import av

AV_MAJOR = int(av.__version__.split(".", 1)[0])

# av 18 decodes tags strictly by default: one badly encoded title would make the file unreadable.
OPEN_OPTIONS: dict[str, str] = {"metadata_errors": "ignore"} if AV_MAJOR < 19 else {}
