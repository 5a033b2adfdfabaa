"""Two costs of moto's that grow with the number of accounts, paid on every request, made
constant. Each answers what moto's own code answers; only the time differs. Found with
py-spy on the bed's moto under `make bench-scale` (750 and 2,500 accounts): together they
were more than half of moto's CPU, and the emulator, not the product, bounded the
benchmarks at scale.

1. Which account a request's access key acts in. moto tells the account of a request signed
   without `x-moto-account-id` (the controller's calls with credentials from STS
   AssumeRole, say) by scanning every account's IAM backend, in every partition, for the
   key (`moto.iam.models.get_account_id_from`). Here an index answers, kept as moto makes
   and deletes keys (IAMBackend.create_access_key, create_temp_access_key,
   delete_access_key_by_name are the only places moto 5.2.5 adds to or removes from a
   backend's `access_keys`). An answer from the index is checked against the backend
   before it is given, so a reset of moto (`/moto-api/reset`, which makes new backends) or
   a key removed some other way is found out and looked up the slow way. A key no account
   holds is remembered as such until moto makes a key of that id. The answer is moto's:
   the account holding the key, or moto's default account when none does.

2. A service's backend for an account. `BackendDict._create_account_specific_backend`, run
   on every `<service>_backends[account]`, asks whether the account has one in a list made
   of every account's id. Here it asks the dict.
"""

import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import base_backend
from moto.iam import models as iam_models
from moto.utilities.utils import PARTITION_NAMES

_lock = threading.Lock()
_accounts = {}  # access key id -> account id
_unknown = set()  # access key ids no backend held when last looked up


def _holds(backends, access_key):
    """Whether an account's IAM backends (one per partition) hold `access_key`."""
    # `in backends` first: indexing a missing partition would create its backend.
    return any(p in backends and access_key in backends[p].access_keys for p in PARTITION_NAMES)


def account_of(access_key):
    """The account holding `access_key`, or moto's default account."""
    with _lock:
        account_id = _accounts.get(access_key)
        if account_id is None and access_key in _unknown:
            return DEFAULT_ACCOUNT_ID
    if account_id is not None and _holds(iam_models.iam_backends.get(account_id, {}), access_key):
        return account_id
    for account_id, backends in list(iam_models.iam_backends.items()):
        if _holds(backends, access_key):
            with _lock:
                _accounts[access_key] = account_id
                _unknown.discard(access_key)
            return account_id
    with _lock:
        _accounts.pop(access_key, None)
        _unknown.add(access_key)
    return DEFAULT_ACCOUNT_ID


def _made(key, account_id):
    with _lock:
        _accounts[key.access_key_id] = account_id
        # Only this key id stops being unknown. (Forgetting every unknown key here had each
        # AssumeRole signed with the caller's own key, one no account holds, scan again.)
        _unknown.discard(key.access_key_id)


def _create_account_specific_backend(self, account_id):
    # moto's own, with `account_id not in self` for `account_id not in list(self.keys())`.
    with base_backend.backend_lock:
        if account_id not in self:
            self[account_id] = base_backend.AccountSpecificBackend(
                service_name=self.service_name,
                account_id=account_id,
                backend=self.backend,
                use_boto3_regions=self._use_boto3_regions,
                additional_regions=self._additional_regions,
            )
        if self not in base_backend.BackendDict._instances:
            base_backend.BackendDict._instances.append(self)


def install():
    base_backend.BackendDict._create_account_specific_backend = _create_account_specific_backend
    backend = iam_models.IAMBackend
    create, create_temp, delete = backend.create_access_key, backend.create_temp_access_key, backend.delete_access_key_by_name

    def create_access_key(self, *args, **kwargs):
        key = create(self, *args, **kwargs)
        _made(key, self.account_id)
        return key

    def create_temp_access_key(self, *args, **kwargs):
        key = create_temp(self, *args, **kwargs)
        _made(key, self.account_id)
        return key

    def delete_access_key_by_name(self, name):
        delete(self, name)
        with _lock:
            _accounts.pop(name, None)

    backend.create_access_key = create_access_key
    backend.create_temp_access_key = create_temp_access_key
    backend.delete_access_key_by_name = delete_access_key_by_name
    # moto.core.responses imports the function by name at each request: replacing it on
    # the module is enough.
    iam_models.get_account_id_from = account_of
