"""Entry point of ``ecert``: one-line errors, ``--verbose`` for the trace, usage errors exit 2."""

from __future__ import annotations

import sys
import traceback

import typer
from sqlalchemy.exc import SQLAlchemyError

from cli import admin, credentials, federation_cmd, federation_ops, serve, trust_cmd, verify_cmd
from cli.federation_demo import demo_federation
from trust.errors import EcertError

app = typer.Typer(
    name="ecert",
    help="ecert-gateway: issue, show and verify signed e-certificates. 电子证照网关",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("init")(admin.init)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo_cmd)
app.command("demo-federation")(demo_federation)
app.command("issue")(credentials.issue)
app.command("issue-batch")(credentials.issue_batch)
app.command("suspend")(credentials.suspend)
app.command("reinstate")(credentials.reinstate)
app.command("revoke")(credentials.revoke)
app.command("verify")(verify_cmd.verify)
app.add_typer(admin.agency_app, name="agency")
app.add_typer(admin.key_app, name="key")
app.add_typer(trust_cmd.trust_app, name="trust")
_ = federation_ops  # its commands register on the federation group
app.add_typer(federation_cmd.federation_app, name="federation")
app.add_typer(federation_cmd.region_app, name="region")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args
    args = [a for a in args if a != "--verbose"]
    try:
        code = app(args=args, prog_name="ecert", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: typer's own click exceptions
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {exc}", err=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except (EcertError, OSError, SQLAlchemyError) as exc:
        if verbose:
            traceback.print_exc()
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return f"database: {orig or exc}".splitlines()[0]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    main()
