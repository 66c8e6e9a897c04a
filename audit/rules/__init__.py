"""The rule registry: an explicit list, in the order rules run and are documented.

Every module in this package that defines a `Rule` subclass must be listed here;
`tests/test_registry.py` checks that, and that ids are unique and every rule is tested.
"""

from __future__ import annotations

from audit.rules.base import Rule
from audit.rules.base_image_floating_tag import BaseImageFloatingTag
from audit.rules.base_image_prerelease_tag import BaseImagePrereleaseTag
from audit.rules.base_image_unresolved_arg import BaseImageUnresolvedArg
from audit.rules.base_image_without_digest import BaseImageWithoutDigest
from audit.rules.install_unpinned import InstallUnpinned
from audit.rules.requirement_local_path import RequirementLocalPath, RequirementPathOutsideTree
from audit.rules.requirement_pin_without_hash import RequirementPinWithoutHash
from audit.rules.requirement_unparseable import RequirementUnparseable
from audit.rules.requirement_unpinned import RequirementUnpinned
from audit.rules.requirement_untrusted_index import RequirementUntrustedIndex
from audit.rules.requirement_vcs_without_commit import RequirementVcsWithoutCommit
from audit.rules.shell_redirect_in_specifier import ShellRedirectInSpecifier
from audit.rules.upgrade_unpinned import UpgradeUnpinned
from audit.rules.vcs_install_without_commit import VcsInstallWithoutCommit

REGISTRY: tuple[Rule, ...] = (
    BaseImageFloatingTag(),
    BaseImageWithoutDigest(),
    BaseImagePrereleaseTag(),
    BaseImageUnresolvedArg(),
    InstallUnpinned(),
    UpgradeUnpinned(),
    VcsInstallWithoutCommit(),
    ShellRedirectInSpecifier(),
    RequirementUnpinned(),
    RequirementVcsWithoutCommit(),
    RequirementLocalPath(),
    RequirementPathOutsideTree(),
    RequirementUntrustedIndex(),
    RequirementPinWithoutHash(),
    RequirementUnparseable(),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in REGISTRY}
