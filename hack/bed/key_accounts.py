"""Which account a request's access key acts in, found in constant time.

moto tells the account of a request signed without `x-moto-account-id` (the controller's
calls with credentials from STS AssumeRole, say) by scanning every account's IAM backend,
in every partition, for the access key: `moto.iam.models.get_account_id_from`, on every
request. With hundreds of accounts that scan was half of moto's CPU (py-spy of the bed's
moto under `make bench-scale POLICIES=3000 ACCOUNTS=750`), and it grows with the accounts:
the emulator, not the product, bounded the benchmarks at scale.

This module answers the same question from an index kept as moto makes and deletes keys
(IAMBackend.create_access_key, create_temp_access_key, delete_access_key_by_name are the
only places moto 5.2.5 adds to or removes from a backend's `access_keys`). An answer from
the index is checked against the backend before it is given, so a reset of moto
(`/moto-api/reset`, which makes new backends) or a key removed some other way is found
out and looked up the slow way. A key no account holds is remembered as such until moto
next makes a key. What it answers is what moto's scan would: the account holding the key,
or moto's default account when none does.
"""

import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam import models as iam_models
from moto.utilities.utils import PARTITION_NAMES

_lock = threading.Lock()
_accounts = {}  # access key id -> account id
_unknown = set()  # access key ids no backend held when last looked up


def _holds(account_id, access_key):
    backends = iam_models.iam_backends.get(account_id)
    if backends is None:
        return False
    # `in backends` first: indexing a missing partition would create its backend.
    return any(p in backends and access_key in backends[p].access_keys for p in PARTITION_NAMES)


def account_of(access_key):
    """The account holding `access_key`, or moto's default account."""
    with _lock:
        account_id = _accounts.get(access_key)
        if account_id is None and access_key in _unknown:
            return DEFAULT_ACCOUNT_ID
    if account_id is not None and _holds(account_id, access_key):
        return account_id
    for account_id, backends in list(iam_models.iam_backends.items()):
        if any(p in backends and access_key in backends[p].access_keys for p in PARTITION_NAMES):
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
        # A key that was unknown may exist now, wherever it was made.
        _unknown.clear()


def install():
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
