"""Prod guard, included after every other task (only the run lock's release follows it):
once this host's whole plan is known, a prod run that would change something without
stopping at pyinfra's prompt (-y) must be confirmed (confirm_prod / CONFIRM_PROD=yes);
otherwise stop before anything executes."""

from pyinfra import host, state
from pyinfra.context import ctx_host, ctx_state

from deploylib import announce, prod_guard, show_diff
from deploylib.model import prod_guard as guard

settings = host.data.settings
if settings.environment == "prod":
    mode = prod_guard.run_mode()
    if guard.will_execute_unprompted(mode) and not guard.confirmed(settings.confirm_prod):
        message = guard.refusal(
            settings.environment,
            host.name,
            mode,
            is_confirmed=False,
            changes=prod_guard.pending_changes(ctx_state.get(), ctx_host.get()),
            entry_point=state.current_deploy_filename or "deploy.py",
            note=guard.unrecognised_confirmation(),
            announcements=announce.planned(ctx_state.get(), ctx_host.get()),
            # Recorded while the line above planned.
            diffs=show_diff.diffs(ctx_host.get(), state.current_deploy_filename or "deploy.py"),
        )
        if message:
            raise prod_guard.ProdNotConfirmed(message)
