"""The host firewall for PostgreSQL's port (pure: imports nothing of pyinfra).

``common`` (the tag, host facts, the protocol's values), one module per backend
(``ufw``, ``nftables``, ``firewalld``) and ``registry`` (the backend protocol and
the one list of backends). This package re-exports their names, so
``from deploylib.model.firewall import plan_ufw`` keeps working.
"""

from .common import (  # noqa: F401
    TAG,
    FirewallInfo,
    FirewallPlanError,
    Listener,
    Plan,
    Upload,
    Wanted,
    any_network,
    blocked_listeners,
    describe_listeners,
    family,
    parse_firewall_host,
    parse_ss_listeners,
    parse_ssh_connection,
    refuse_blocking,
    ssh_ports,
)
from .firewalld import (  # noqa: F401
    FIREWALLD_IPSETS,
    FirewalldState,
    firewalld_rich_rule,
    parse_firewalld_state,
    plan_firewalld,
)
from .nftables import (  # noqa: F401
    NFT_FILE,
    NFT_MAIN_CONF,
    NFT_TABLE,
    NftState,
    has_include,
    nft_include_line,
    normalize_nft,
    render_nft_file,
    render_nft_table,
)
from .registry import CHOICES, FirewallBackend, choose_backend  # noqa: F401
from .ufw import (  # noqa: F401
    UFW_PG_COMMENT,
    UFW_SSH_COMMENT,
    UfwPlan,
    UfwRule,
    UfwState,
    parse_ufw_rules,
    parse_ufw_state,
    parse_ufw_tuple,
    plan_ufw,
    ufw_add,
    ufw_comments,
    ufw_delete,
)

# The values `firewall_backend` accepts (the name this list had before the registry;
# registry.BACKENDS holds the backend modules).
BACKENDS = CHOICES
