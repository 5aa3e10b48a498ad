/*
 * store.c - LMDB's error codes translated once.  See store.h.
 */
#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "store.h"

int store_errno(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return -EPROTO;
    case MDB_READERS_FULL:
    case MDB_MAP_RESIZED:
        return -EAGAIN;
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
    case MDB_PAGE_FULL:
        return -E2BIG;
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
        return -EMFILE;
    case MDB_BAD_VALSIZE:
    case MDB_BAD_DBI:
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_INCOMPATIBLE:
        return -EINVAL;
    default:
        if (rc > 0)
            return -rc; /* a system errno */
        return -EIO;    /* MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC */
    }
}

int store_meta_get_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, meta, &k, &d);
    if (rc != 0)
        return store_errno(rc);
    if (d.mv_size == 8)
        *v = get_be64(d.mv_data);
    else if (d.mv_size == 4)
        *v = get_be32(d.mv_data);
    else
        return -EIO;
    return 0;
}

int store_meta_put_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v)
{
    uint8_t b[8];
    put_be64(b, v);
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return store_errno(mdb_put(txn, meta, &k, &d, 0));
}
