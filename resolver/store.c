/*
 * store.c - LMDB's error codes translated once.  See store.h.
 */
#include <errno.h>
#include <lmdb.h>

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
