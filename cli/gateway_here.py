"""Is there a gateway here? Answered without creating one.

A command that reads (``agency list``, ``key list``, ``audit verify`` …) or changes an existing
gateway must not make a database (SQLite creates its file on the first connection, and
:meth:`gateway.core.Gateway.open` migrates an empty database into a new gateway) or a data
directory as a side effect of being run in the wrong folder. :func:`require` looks first: for
SQLite, whether ``gateway.db`` is in the data directory; for a configured database
(``ECERT_DATABASE_URL``), whether Alembic's version table is in it (a read-only query).

Deliberately not here: opening the gateway (:func:`cli.common.open_gateway`), and deciding which
commands may create one (they pass ``create=True`` there).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.errors import NotFound
from gateway.settings import Settings
from trust.errors import FetchError

DATABASE_FILE = "gateway.db"  # gateway.settings.Settings.db_url's SQLite file
VERSION_TABLE = "alembic_version"


class NoGatewayHere(NotFound):
    """The data directory (or the configured database) holds no gateway."""


def _how(data_dir: Path) -> tuple[str, str]:
    zh = (
        f"请先运行 `ecert init --city-code <城市代码> --data-dir {data_dir}` 创建网关，"
        "或用 --data-dir（或 ECERT_DATA_DIR）指向已有的数据目录"
    )
    en = (
        f"make one with `ecert init --city-code CODE --data-dir {data_dir}`, or point "
        "--data-dir (or ECERT_DATA_DIR) at an existing gateway's data directory"
    )
    return zh, en


def require(settings: Settings) -> None:
    """Raise :class:`NoGatewayHere` unless ``settings`` name an existing gateway; write nothing."""
    how_zh, how_en = _how(settings.data_dir)
    if settings.database_url is None:
        if (settings.data_dir / DATABASE_FILE).is_file():
            return
        raise NoGatewayHere(
            f"此处没有网关：{settings.data_dir} 中没有网关数据库 {DATABASE_FILE}；{how_zh} · "
            f"no gateway here: expected {settings.data_dir / DATABASE_FILE}, found no such "
            f"file; {how_en}"
        )
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.db import make_engine

    where = make_url(settings.database_url).render_as_string(hide_password=True)
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            found = inspect(conn).has_table(VERSION_TABLE)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise FetchError(
            f"无法打开数据库 {where} · cannot open the database {where}: {reason}"
        ) from exc
    finally:
        engine.dispose()
    if not found:
        raise NoGatewayHere(
            f"此处没有网关：数据库 {where} 尚未初始化；{how_zh} · no gateway here: expected "
            f"a gateway's tables in {where}, found none; {how_en}"
        )


@contextmanager
def leaving_no_data_dir(settings: Settings) -> Iterator[None]:
    """Remove the data directory opening a gateway made, if it was absent and is still empty
    (a gateway in a configured database needs none; :meth:`Gateway.open` makes it anyway)."""
    existed = settings.data_dir.exists()
    try:
        yield
    finally:
        if not existed and settings.data_dir.is_dir() and not any(settings.data_dir.iterdir()):
            settings.data_dir.rmdir()
