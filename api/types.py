"""Parameter types shared by the routes: row ids the store can hold (64-bit, positive)."""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from litestar.params import PathParameter, QueryParameter

#: the largest id either database can store (BIGINT; SQLite INTEGER)
ID_MAX: Final = 2**63 - 1

PathId = Annotated[int, PathParameter(ge=1, le=ID_MAX)]
QuerySeq = Annotated[int, QueryParameter(ge=0, le=ID_MAX)]
BodyId = Annotated[int, msgspec.Meta(ge=1, le=ID_MAX)]
