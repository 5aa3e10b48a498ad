/*
 * policy.c - segments, name lists, schedules and the decision.  See policy.h.
 *
 * Each policy keeps every name it knows (its allow and deny entries, the
 * built-in bypass names, the safe-search names) in ONE hash table, so that a
 * decision walks the query name's labels once: one keyed hash per label.
 * Categories are a 64-bit mask test.  Nothing here allocates after
 * policy_set_build.
 *
 * A policy_set borrows strings and arrays from the config it was built from:
 * the config must outlive it (both live in one daemon_env generation).
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "policy.h"
#include "safesearch.h"
#include "siphash.h"

/* --- the name table -------------------------------------------------------------*/

enum {
    NAME_EXACT = 1,   /* this name only */
    NAME_SUBTREE = 2, /* this name and everything below */
};

enum bypass_kind {
    BYPASS_NONE = 0,
    BYPASS_NXDOMAIN,
    BYPASS_NODATA,
};

struct name_entry {
    uint8_t *name; /* NULL: empty slot */
    uint8_t len;
    uint8_t allow, deny; /* NAME_EXACT | NAME_SUBTREE bits */
    uint8_t bypass;      /* enum bypass_kind, exact names only */
    const struct config_name *allow_src, *deny_src;
    const char *bypass_rule;
    const uint8_t *safe_target; /* rewrite target (wire), exact names only */
    uint8_t safe_target_len;
};

struct name_table {
    struct name_entry *slots;
    size_t mask; /* slots - 1, a power of two minus one */
    size_t count;
    uint8_t key[SIPHASH_KEY_LEN];
};

/* What a walk up the query name found, most specific first. */
struct name_hits {
    const struct name_entry *allow, *deny;
    const struct name_entry *exact; /* the entry for the whole name, if any */
};

static int table_init(struct name_table *t, size_t expected)
{
    size_t n = 16;
    while (n < expected * 2)
        n <<= 1;
    t->slots = calloc(n, sizeof *t->slots);
    if (!t->slots)
        return -ENOMEM;
    t->mask = n - 1;
    t->count = 0;
    if (getrandom(t->key, sizeof t->key, 0) != sizeof t->key)
        return -EIO;
    return 0;
}

static void table_free(struct name_table *t)
{
    if (!t->slots)
        return;
    for (size_t i = 0; i <= t->mask; i++)
        free(t->slots[i].name);
    free(t->slots);
    t->slots = NULL;
}

static struct name_entry *table_find(const struct name_table *t, const uint8_t *name, size_t len)
{
    size_t i = siphash13(t->key, name, len) & t->mask;

    for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
        struct name_entry *e = &t->slots[i];
        if (!e->name)
            return NULL;
        if (e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    }
    return NULL;
}

/* The entry for name, made if needed.  The table was sized for every name
 * it will hold, so it never fills. */
static struct name_entry *table_get(struct name_table *t, const uint8_t *name, size_t len)
{
    size_t i = siphash13(t->key, name, len) & t->mask;

    for (size_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
        struct name_entry *e = &t->slots[i];
        if (e->name && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
        if (!e->name) {
            if (t->count * 2 >= t->mask + 1 || !(e->name = malloc(len)))
                return NULL;
            memcpy(e->name, name, len);
            e->len = (uint8_t)len;
            t->count++;
            return e;
        }
    }
    return NULL;
}

static void table_walk(const struct name_table *t, const uint8_t *name, size_t len,
                       struct name_hits *h)
{
    size_t off = 0;

    memset(h, 0, sizeof *h);
    while (off < len) {
        const struct name_entry *e = table_find(t, name + off, len - off);
        if (e) {
            uint8_t want = off == 0 ? (NAME_EXACT | NAME_SUBTREE) : NAME_SUBTREE;
            if (off == 0)
                h->exact = e;
            if (!h->allow && (e->allow & want))
                h->allow = e;
            if (!h->deny && (e->deny & want))
                h->deny = e;
        }
        if (name[off] == 0)
            break;
        off += (size_t)name[off] + 1;
    }
}

/* Text name ("example.com", no trailing dot needed) to lower-case wire. */
static size_t text_to_wire(const char *text, uint8_t *out, size_t cap)
{
    size_t o = 0, label = 0;

    for (const char *p = text;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t l = o - label;
            if (l > 63 || (l == 0 && *p == '.'))
                return 0;
            if (l > 0) {
                if (o + 1 > cap)
                    return 0;
                memmove(out + label + 1, out + label, l);
                out[label] = (uint8_t)l;
                o++;
            }
            label = o;
            if (*p == '\0' || p[1] == '\0')
                break;
            continue;
        }
        if (o + 2 > cap)
            return 0;
        char c = *p;
        out[o++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    }
    if (o + 1 > cap || o + 1 > 255)
        return 0;
    out[o++] = 0;
    return o;
}

/* --- schedules -------------------------------------------------------------------*/

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}

void policy_clock_set(struct policy_clock *c, time_t now)
{
    struct tm tm;

    localtime_r(&now, &tm);
    c->now = now;
    c->day = days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
    c->wday = (uint8_t)((tm.tm_wday + 6) % 7);
    c->minute = (uint16_t)(tm.tm_hour * 60 + tm.tm_min);
}

static bool in_ranges(const struct config_daterange *r, size_t n, int32_t day)
{
    for (size_t i = 0; i < n; i++)
        if (day >= r[i].from && day <= r[i].to)
            return true;
    return false;
}

static bool schedule_active(const struct config_schedule *s, const struct policy_clock *clk)
{
    if (in_ranges(s->holidays, s->nholidays, clk->day))
        return false;
    if (s->nterms && !in_ranges(s->terms, s->nterms, clk->day))
        return false;
    for (size_t i = 0; i < s->nwindows; i++) {
        const struct config_window *w = &s->windows[i];
        if ((w->days & (1u << clk->wday)) && clk->minute >= w->start && clk->minute < w->end)
            return true;
    }
    return false;
}

/* --- building ---------------------------------------------------------------------*/

struct policy_rule {
    enum config_rule_kind kind;
    const struct config_schedule *schedule;
    bool inside;
    uint64_t categories;
};

struct policy {
    const struct config_policy *cfg;
    struct name_table names;
    uint64_t block;       /* categories always blocked */
    uint64_t bypass_cats; /* doh and vpn_proxy, when bypass protection is on */
    uint64_t watched;     /* block | every rule's categories | statutory */
    int statutory;        /* bit, or -1 */
    struct policy_rule *rules;
    size_t nrules;
    const struct config_action *cat_action[POLICY_MAX_CATEGORIES];
    uint8_t safe_targets[4][256]; /* wire forms of the rewrite targets */
    size_t safe_target_len[4];
    size_t nsafe_targets;
};

struct segment {
    const struct config_segment *cfg;
    unsigned *ifindex;
    int policy;
};

struct policy_set {
    struct policy *policies;
    size_t npolicies;
    struct segment *segments;
    size_t nsegments;
};

static const struct config_action action_nxdomain = {.kind = CONFIG_ACTION_NXDOMAIN};
static const struct config_action action_nodata = {.kind = CONFIG_ACTION_NODATA};

/* The built-in bypass names (policy.h, step 4). */
static const struct {
    const char *name;
    enum bypass_kind kind;
    const char *why;
} bypass_names[] = {
    /* Firefox turns DNS-over-HTTPS off when this canary does not resolve. */
    {"use-application-dns.net", BYPASS_NXDOMAIN, "builtin:firefox-doh-canary"},
    /* iCloud Private Relay falls back to normal DNS when these fail. */
    {"mask.icloud.com", BYPASS_NXDOMAIN, "builtin:icloud-private-relay"},
    {"mask-h2.icloud.com", BYPASS_NXDOMAIN, "builtin:icloud-private-relay"},
    /* RFC 9462: no designated encrypted resolver to discover. */
    {"_dns.resolver.arpa", BYPASS_NODATA, "builtin:rfc9462-discovery"},
};

struct build_ctx {
    struct policy *p;
    policy_category_fn category_id;
    void *arg;
    int error;
};

static uint64_t category_mask(struct build_ctx *b, char *const *names, size_t n)
{
    uint64_t mask = 0;
    for (size_t i = 0; i < n; i++) {
        int bit = b->category_id(b->arg, names[i]);
        if (bit >= 0 && bit < POLICY_MAX_CATEGORIES)
            mask |= 1ull << bit;
    }
    return mask;
}

static void add_safe(void *arg, const char *name, const char *target)
{
    struct build_ctx *b = arg;
    struct policy *p = b->p;
    uint8_t wire[256], twire[256];
    size_t len = text_to_wire(name, wire, sizeof wire);
    size_t tlen = text_to_wire(target, twire, sizeof twire);
    size_t t;

    if (!len || !tlen) {
        b->error = -EINVAL;
        return;
    }
    for (t = 0; t < p->nsafe_targets; t++)
        if (p->safe_target_len[t] == tlen && memcmp(p->safe_targets[t], twire, tlen) == 0)
            break;
    if (t == p->nsafe_targets) {
        if (t >= sizeof p->safe_targets / sizeof p->safe_targets[0]) {
            b->error = -E2BIG;
            return;
        }
        memcpy(p->safe_targets[t], twire, tlen);
        p->safe_target_len[t] = tlen;
        p->nsafe_targets++;
    }
    struct name_entry *e = table_get(&p->names, wire, len);
    if (!e) {
        b->error = -ENOMEM;
        return;
    }
    e->safe_target = p->safe_targets[t];
    e->safe_target_len = (uint8_t)tlen;
}

static void count_one(void *arg, const char *name, const char *target)
{
    (void)name;
    (void)target;
    (*(size_t *)arg)++;
}

static size_t count_safe(enum safesearch_level level)
{
    size_t n = 0;
    safesearch_each(level, count_one, &n);
    return n;
}

static int build_policy(const struct config *cfg, const struct config_policy *cp,
                        policy_category_fn category_id, void *arg, struct policy *p, char *err,
                        size_t errlen)
{
    struct build_ctx b = {.p = p, .category_id = category_id, .arg = arg};
    size_t nbypass = sizeof bypass_names / sizeof bypass_names[0];
    enum safesearch_level level = (enum safesearch_level)cp->safe_search;
    int rc;

    p->cfg = cp;
    p->statutory = category_id(arg, POLICY_STATUTORY);
    rc = table_init(&p->names, cp->nallow + cp->ndeny + nbypass + count_safe(level));
    if (rc < 0)
        return rc;

    for (size_t i = 0; i < cp->nallow; i++) {
        const struct config_name *n = &cp->allow[i];
        struct name_entry *e = table_get(&p->names, n->wire, n->len);
        if (!e)
            return -ENOMEM;
        e->allow |= n->subtree ? NAME_SUBTREE : NAME_EXACT;
        if (!e->allow_src)
            e->allow_src = n;
    }
    for (size_t i = 0; i < cp->ndeny; i++) {
        const struct config_name *n = &cp->deny[i];
        struct name_entry *e = table_get(&p->names, n->wire, n->len);
        if (!e)
            return -ENOMEM;
        e->deny |= n->subtree ? NAME_SUBTREE : NAME_EXACT;
        if (!e->deny_src)
            e->deny_src = n;
    }
    if (cp->bypass_protection) {
        for (size_t i = 0; i < nbypass; i++) {
            uint8_t wire[256];
            size_t len = text_to_wire(bypass_names[i].name, wire, sizeof wire);
            struct name_entry *e = len ? table_get(&p->names, wire, len) : NULL;
            if (!e)
                return -ENOMEM;
            e->bypass = (uint8_t)bypass_names[i].kind;
            e->bypass_rule = bypass_names[i].why;
        }
    }
    safesearch_each(level, add_safe, &b);
    if (b.error < 0)
        return b.error;

    p->block = category_mask(&b, cp->block, cp->nblock);
    /* Bypass protection also covers the lists of DNS-over-HTTPS resolvers and
     * VPN, proxy and hotspot services, when the index has them: a policy
     * that protects against the canary names protects against those too. */
    if (cp->bypass_protection) {
        int doh = category_id(arg, POLICY_DOH), vpn = category_id(arg, POLICY_VPN_PROXY);
        if (doh >= 0 && doh < POLICY_MAX_CATEGORIES)
            p->bypass_cats |= 1ull << doh;
        if (vpn >= 0 && vpn < POLICY_MAX_CATEGORIES)
            p->bypass_cats |= 1ull << vpn;
    }
    p->watched = p->block | p->bypass_cats;
    if (p->statutory >= 0)
        p->watched |= 1ull << p->statutory;
    if (cp->nrules && !(p->rules = calloc(cp->nrules, sizeof *p->rules)))
        return -ENOMEM;
    for (size_t i = 0; i < cp->nrules; i++) {
        const struct config_rule *r = &cp->rules[i];
        struct policy_rule *pr = &p->rules[i];
        pr->kind = r->kind;
        pr->inside = r->inside;
        pr->categories = category_mask(&b, r->categories, r->ncategories);
        p->watched |= pr->categories;
        for (size_t k = 0; k < cfg->nschedules; k++)
            if (strcmp(cfg->schedules[k].name, r->schedule) == 0)
                pr->schedule = &cfg->schedules[k];
        if (!pr->schedule) {
            snprintf(err, errlen, "policies.%s: no schedule named '%s'", cp->name, r->schedule);
            return -EINVAL;
        }
    }
    p->nrules = cp->nrules;
    for (size_t i = 0; i < cp->ncategory_actions; i++) {
        int bit = category_id(arg, cp->category_actions[i].category);
        if (bit >= 0 && bit < POLICY_MAX_CATEGORIES)
            p->cat_action[bit] = &cp->category_actions[i].action;
    }
    return 0;
}

static int build_segment(const struct config *cfg, const struct config_segment *cs,
                         struct segment *s, char *err, size_t errlen)
{
    s->cfg = cs;
    s->policy = -1;
    for (size_t i = 0; i < cfg->npolicies; i++)
        if (strcmp(cfg->policies[i].name, cs->policy) == 0)
            s->policy = (int)i;
    if (s->policy < 0) {
        snprintf(err, errlen, "segments.%s: no policy named '%s'", cs->name, cs->policy);
        return -EINVAL;
    }
    if (cs->ninterfaces) {
        if (!(s->ifindex = calloc(cs->ninterfaces, sizeof *s->ifindex)))
            return -ENOMEM;
        /* An interface that does not exist yet (a VLAN not up) matches
         * nothing until the next reload. */
        for (size_t i = 0; i < cs->ninterfaces; i++)
            s->ifindex[i] = if_nametoindex(cs->interfaces[i]);
    }
    return 0;
}

int policy_set_build(const struct config *cfg, policy_category_fn category_id, void *arg,
                     struct policy_set **out, char *err, size_t errlen)
{
    struct policy_set *ps = calloc(1, sizeof *ps);
    int rc = -ENOMEM;

    if (!ps)
        goto fail;
    if (cfg->npolicies && !(ps->policies = calloc(cfg->npolicies, sizeof *ps->policies)))
        goto fail;
    ps->npolicies = cfg->npolicies;
    for (size_t i = 0; i < cfg->npolicies; i++) {
        rc = build_policy(cfg, &cfg->policies[i], category_id, arg, &ps->policies[i], err, errlen);
        if (rc < 0)
            goto fail;
    }
    rc = -ENOMEM;
    if (cfg->nsegments && !(ps->segments = calloc(cfg->nsegments, sizeof *ps->segments)))
        goto fail;
    ps->nsegments = cfg->nsegments;
    for (size_t i = 0; i < cfg->nsegments; i++) {
        rc = build_segment(cfg, &cfg->segments[i], &ps->segments[i], err, errlen);
        if (rc < 0)
            goto fail;
    }
    *out = ps;
    return 0;
fail:
    if (rc == -ENOMEM && err && errlen && !*err)
        snprintf(err, errlen, "out of memory building the policies");
    policy_set_free(ps);
    return rc;
}

void policy_set_free(struct policy_set *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->npolicies; i++) {
        table_free(&ps->policies[i].names);
        free(ps->policies[i].rules);
    }
    for (size_t i = 0; i < ps->nsegments; i++)
        free(ps->segments[i].ifindex);
    free(ps->policies);
    free(ps->segments);
    free(ps);
}

/* --- segments ----------------------------------------------------------------------*/

static bool any_net(const struct config_net *nets, size_t n, const struct sockaddr *sa)
{
    for (size_t i = 0; i < n; i++)
        if (config_net_contains(&nets[i], sa))
            return true;
    return false;
}

int policy_segment_match(const struct policy_set *ps, const struct sockaddr *client,
                         const struct sockaddr *local, int ifindex)
{
    for (size_t i = 0; i < ps->nsegments; i++) {
        const struct segment *s = &ps->segments[i];
        const struct config_segment *cs = s->cfg;
        if (cs->nnetworks && !any_net(cs->networks, cs->nnetworks, client))
            continue;
        if (cs->nlocal_addresses && !(local && local->sa_family &&
                                      any_net(cs->local_addresses, cs->nlocal_addresses, local)))
            continue;
        if (cs->ninterfaces) {
            bool found = false;
            for (size_t k = 0; k < cs->ninterfaces && !found; k++)
                found = ifindex > 0 && s->ifindex[k] == (unsigned)ifindex;
            if (!found)
                continue;
        }
        return (int)i;
    }
    return -1;
}

size_t policy_segment_count(const struct policy_set *ps)
{
    return ps->nsegments;
}

const char *policy_segment_name(const struct policy_set *ps, int segment)
{
    return segment >= 0 && (size_t)segment < ps->nsegments ? ps->segments[segment].cfg->name : "-";
}

const struct policy *policy_of_segment(const struct policy_set *ps, int segment)
{
    return &ps->policies[ps->segments[segment].policy];
}

bool policy_segment_grant_required(const struct policy_set *ps, int segment)
{
    return ps->segments[segment].cfg->grant_required;
}

const char *policy_name(const struct policy *p)
{
    return p->cfg->name;
}

uint64_t policy_watched_categories(const struct policy *p)
{
    return p->watched;
}

/* --- deciding ----------------------------------------------------------------------*/

/* Is name at or below zone?  Compared at label boundaries only, so
 * "badexample.org" is not under "example.org". */
static bool name_is_under(const uint8_t *name, size_t len, const uint8_t *zone, size_t zlen)
{
    size_t off = 0;

    while (len - off >= zlen) {
        if (len - off == zlen)
            return memcmp(name + off, zone, zlen) == 0;
        if (name[off] == 0)
            break;
        off += (size_t)name[off] + 1;
    }
    return false;
}

static int lowest_bit(uint64_t m)
{
    return m ? __builtin_ctzll(m) : -1;
}

static void block(const struct policy *p, struct policy_verdict *v, enum policy_reason why,
                  int category, const char *rule, unsigned line)
{
    v->outcome = POLICY_BLOCK;
    v->reason = why;
    v->category = category;
    v->rule = rule;
    v->line = line;
    v->action = &p->cfg->action;
    if (category >= 0 && p->cat_action[category])
        v->action = p->cat_action[category];
}

void policy_decide(const struct policy *p, const uint8_t *qname, size_t qname_len, uint64_t cats,
                   const struct policy_clock *clk, const struct policy_dispensation *disp,
                   struct policy_verdict *v)
{
    struct name_hits h;

    memset(v, 0, sizeof *v);
    v->category = -1;
    v->ttl = p->cfg->block_ttl;

    /* 1. Statutory lists: nothing turns them off. */
    if (p->statutory >= 0 && (cats & (1ull << p->statutory))) {
        block(p, v, POLICY_BY_STATUTORY, p->statutory, POLICY_STATUTORY, 0);
        return;
    }

    /* 2. A dispensation opens its categories, or its name. */
    bool dispensed = false;
    if (disp) {
        if (disp->name && name_is_under(qname, qname_len, disp->name, disp->name_len)) {
            v->reason = POLICY_BY_DISPENSATION;
            return;
        }
        if (cats & disp->categories) {
            cats &= ~disp->categories;
            dispensed = true;
        }
    }

    table_walk(&p->names, qname, qname_len, &h);

    /* 3. Allow list. */
    if (h.allow) {
        v->reason = POLICY_BY_ALLOW;
        v->rule = h.allow->allow_src->text;
        v->line = h.allow->allow_src->line;
        goto pass;
    }
    /* 4. Deny list, then the built-in bypass names. */
    if (h.deny) {
        block(p, v, POLICY_BY_DENY, -1, h.deny->deny_src->text, h.deny->deny_src->line);
        return;
    }
    if (h.exact && h.exact->bypass != BYPASS_NONE) {
        block(p, v, POLICY_BY_BYPASS, -1, h.exact->bypass_rule, 0);
        v->action = h.exact->bypass == BYPASS_NODATA ? &action_nodata : &action_nxdomain;
        return;
    }
    if (cats & p->bypass_cats) {
        block(p, v, POLICY_BY_BYPASS, lowest_bit(cats & p->bypass_cats), "bypass-protection", 0);
        return;
    }
    /* 5. Schedule rules. */
    for (size_t i = 0; i < p->nrules; i++) {
        const struct policy_rule *r = &p->rules[i];
        if (schedule_active(r->schedule, clk) != r->inside)
            continue;
        if (r->kind == CONFIG_RULE_ALLOW_ONLY) {
            block(p, v, POLICY_BY_SCHEDULE, -1, r->schedule->name, 0);
            return;
        }
        if (cats & r->categories) {
            block(p, v, POLICY_BY_SCHEDULE, lowest_bit(cats & r->categories), r->schedule->name, 0);
            return;
        }
    }
    /* 6. Categories. */
    if (cats & p->block) {
        block(p, v, POLICY_BY_CATEGORY, lowest_bit(cats & p->block), NULL, 0);
        return;
    }
    /* 7. The default. */
    if (p->cfg->default_block) {
        block(p, v, POLICY_BY_DEFAULT, -1, "default: block", 0);
        return;
    }
    if (dispensed)
        v->reason = POLICY_BY_DISPENSATION;
pass:
    v->outcome = POLICY_PASS;
    if (h.exact && h.exact->safe_target) {
        v->outcome = POLICY_REWRITE;
        v->reason = POLICY_BY_SAFE_SEARCH;
        v->target = h.exact->safe_target;
        v->target_len = h.exact->safe_target_len;
        v->rule = "safe-search";
    }
}

const char *policy_reason_name(enum policy_reason r)
{
    static const char *const names[] = {
        [POLICY_BY_NONE] = "none",
        [POLICY_BY_STATUTORY] = "statutory",
        [POLICY_BY_DISPENSATION] = "dispensation",
        [POLICY_BY_ALLOW] = "allow-list",
        [POLICY_BY_DENY] = "deny-list",
        [POLICY_BY_BYPASS] = "bypass-protection",
        [POLICY_BY_SCHEDULE] = "schedule",
        [POLICY_BY_CATEGORY] = "category",
        [POLICY_BY_DEFAULT] = "default",
        [POLICY_BY_SAFE_SEARCH] = "safe-search",
        [POLICY_BY_GUEST_ACCESS] = "guest-access",
        [POLICY_BY_NETWORK] = "network",
    };
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}

bool policy_captive_probe(const uint8_t *qname, size_t qname_len)
{
    static const char *const probes[] = {
        "captive.apple.com",
        "connectivitycheck.gstatic.com",
        "connectivitycheck.android.com",
        "clients3.google.com",
        "www.msftconnecttest.com",
        "ipv6.msftconnecttest.com",
        "www.msftncsi.com",
        "dns.msftncsi.com",
        "detectportal.firefox.com",
        "nmcheck.gnome.org",
        "network-test.debian.org",
        "connectivity-check.ubuntu.com",
    };
    uint8_t wire[256];

    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        size_t len = text_to_wire(probes[i], wire, sizeof wire);
        if (len == qname_len && memcmp(wire, qname, len) == 0)
            return true;
    }
    return false;
}
