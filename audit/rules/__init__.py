"""The rule registry: an explicit list, in the order rules run and are documented.

Every module in this package that defines a `Rule` subclass must be listed here;
`tests/test_registry.py` checks that, and that ids are unique and every rule is tested.
"""

from __future__ import annotations

from audit.rules.add_url_without_checksum import AddUrlWithoutChecksum
from audit.rules.base import Rule
from audit.rules.base_image_floating_tag import BaseImageFloatingTag
from audit.rules.base_image_prerelease_tag import BaseImagePrereleaseTag
from audit.rules.base_image_unresolved_arg import BaseImageUnresolvedArg
from audit.rules.base_image_without_digest import BaseImageWithoutDigest
from audit.rules.cli_login_with_literal_token import CliLoginWithLiteralToken
from audit.rules.cloud_key import CloudKey
from audit.rules.code_host_token import CodeHostToken
from audit.rules.copy_source_dockerignored import CopySourceDockerignored
from audit.rules.copy_source_gitignored import CopySourceGitignored
from audit.rules.copy_source_in_empty_submodule import CopySourceInEmptySubmodule
from audit.rules.copy_source_missing import CopySourceMissing
from audit.rules.copy_source_outside_context import CopySourceOutsideContext
from audit.rules.credential_build_arg import CredentialBuildArg
from audit.rules.credential_in_env_or_arg import CredentialInEnvOrArg
from audit.rules.cuda_extension_build import CudaExtensionBuild
from audit.rules.download_without_checksum import DownloadWithoutChecksum
from audit.rules.git_clone_without_commit import GitCloneWithoutCommit
from audit.rules.high_entropy_string import HighEntropyString
from audit.rules.host_path_in_dockerfile import HostPathInDockerfile
from audit.rules.host_path_in_python import HostPathInPython
from audit.rules.hub_load_without_revision import HubLoadMutableRevision, HubLoadWithoutRevision
from audit.rules.huggingface_org_token import HuggingFaceOrgToken
from audit.rules.huggingface_token import HuggingFaceToken
from audit.rules.input_problems import (
    DockerfileSyntax,
    EmptyDockerfile,
    FileTooLarge,
    InvalidProjectFile,
    PythonSyntaxError,
    SymlinkEscapesEntry,
    UndecodableFile,
    UnreadableFile,
)
from audit.rules.install_unpinned import InstallUnpinned
from audit.rules.json_web_token import JsonWebToken
from audit.rules.large_weight_file import LargeWeightFile
from audit.rules.model_download_at_build import ModelDownloadAtBuild
from audit.rules.pipe_to_shell import PipeToShell
from audit.rules.private_key import PrivateKeyInTree
from audit.rules.remote_code_without_revision import RemoteCodeWithoutRevision
from audit.rules.requirement_file_not_in_context import RequirementFileNotInContext
from audit.rules.requirement_local_path import RequirementLocalPath, RequirementPathOutsideTree
from audit.rules.requirement_pin_without_hash import RequirementPinWithoutHash
from audit.rules.requirement_unparseable import RequirementUnparseable
from audit.rules.requirement_unpinned import RequirementUnpinned
from audit.rules.requirement_untrusted_index import RequirementUntrustedIndex
from audit.rules.requirement_vcs_without_commit import RequirementVcsWithoutCommit
from audit.rules.secret_scan_gap import SecretScanGap
from audit.rules.service_api_key import ServiceApiKey
from audit.rules.shell_redirect_in_specifier import ShellRedirectInSpecifier
from audit.rules.upgrade_unpinned import UpgradeUnpinned
from audit.rules.url_credentials import UrlCredentials
from audit.rules.vcs_install_without_commit import VcsInstallWithoutCommit
from audit.rules.wandb_api_key import WandbApiKey

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
    GitCloneWithoutCommit(),
    DownloadWithoutChecksum(),
    AddUrlWithoutChecksum(),
    PipeToShell(),
    ModelDownloadAtBuild(),
    CopySourceMissing(),
    CopySourceDockerignored(),
    CopySourceInEmptySubmodule(),
    CopySourceOutsideContext(),
    CopySourceGitignored(),
    HostPathInDockerfile(),
    HostPathInPython(),
    LargeWeightFile(),
    RequirementFileNotInContext(),
    HubLoadWithoutRevision(),
    HubLoadMutableRevision(),
    RemoteCodeWithoutRevision(),
    CudaExtensionBuild(),
    CredentialInEnvOrArg(),
    CliLoginWithLiteralToken(),
    CredentialBuildArg(),
    HuggingFaceToken(),
    HuggingFaceOrgToken(),
    WandbApiKey(),
    UrlCredentials(),
    CloudKey(),
    CodeHostToken(),
    PrivateKeyInTree(),
    ServiceApiKey(),
    JsonWebToken(),
    HighEntropyString(),
    SecretScanGap(),
    # input problems last: files are read lazily, so read errors are known only after the other rules
    DockerfileSyntax(),
    EmptyDockerfile(),
    FileTooLarge(),
    UndecodableFile(),
    UnreadableFile(),
    SymlinkEscapesEntry(),
    PythonSyntaxError(),
    InvalidProjectFile(),
)

BY_ID: dict[str, Rule] = {rule.id: rule for rule in REGISTRY}
