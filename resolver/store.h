/*
 * store.h - what the LMDB stores (blocklist.c, grants.c, qlog.c) share:
 * big-endian integers in keys and values, so keys sort as numbers, and the
 * one translation of LMDB's error codes into negative errno values.
 *
 * Not here: opening environments; each store keeps its own key space and
 * its own open path.
 */
#ifndef GATEHOUSE_STORE_H
#define GATEHOUSE_STORE_H

#include <stdint.h>

#include <lmdb.h>

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* An LMDB return code as 0 or a negative errno: MDB_MAP_FULL -> -ENOSPC,
 * MDB_NOTFOUND -> -ENOENT, MDB_KEYEXIST -> -EEXIST, MDB_INVALID and
 * MDB_VERSION_MISMATCH -> -EPROTO, MDB_READERS_FULL -> -EAGAIN, the
 * size limits -> -E2BIG, the table limits -> -EMFILE, misuse -> -EINVAL,
 * damage -> -EIO; a system errno (positive) is negated. */
int store_errno(int mdb_rc);

/* A counter kept under NAME in a store's meta table, as 8 (or, written by
 * an older version, 4) big-endian bytes.  0, or a negative errno (-ENOENT
 * when absent, -EIO when the value has another size). */
int store_meta_get_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *v);
int store_meta_put_u64(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v);

#endif
