// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "hpack.h"

struct hpack_entry {
	uint32_t name_len, value_len;
	bool name_known;
	char bytes[]; /* name (when known), then value */
};

/* RFC 7541 Appendix A. */
static const struct {
	const char *name, *value;
} static_table[HPACK_STATIC_ENTRIES] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};

/*
 * RFC 7541 Appendix B: the code length of each symbol (256 = EOS). The code
 * is canonical (codes of one length are consecutive, in symbol order, and
 * each length's first code follows the previous length's last), so the
 * lengths alone define it; test_hpack checks it against nghttp2's encoder.
 */
static const uint8_t huffman_len[257] = {
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6,	10, 10, 12, 13, 6,  8,	11, 10, 10, 8,	11, 8,	6,  6,	6,
    5,	5,  5,	6,  6,	6,  6,	6,  6,	6,  7,	8,  15, 6,  12, 10, 13, 6,  7,	7,  7,	7,  7,	7,
    7,	7,  7,	7,  7,	7,  7,	7,  7,	7,  7,	7,  7,	7,  7,	7,  8,	7,  8,	13, 19, 13, 14, 6,
    15, 5,  6,	5,  6,	5,  6,	6,  6,	5,  7,	7,  6,	6,  6,	5,  6,	7,  6,	5,  5,	6,  7,	7,
    7,	7,  7,	15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21,
    23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24,
    21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
};

#define HUFFMAN_MAX_BITS 30

static struct {
	uint32_t first[HUFFMAN_MAX_BITS + 1]; /* first code of each length */
	uint16_t count[HUFFMAN_MAX_BITS + 1]; /* codes of each length */
	uint16_t index[HUFFMAN_MAX_BITS + 1]; /* position of the first in syms */
	uint16_t syms[257];		      /* symbols by (length, value) */
} huff;
static pthread_once_t huff_once = PTHREAD_ONCE_INIT;

static void huffman_setup(void)
{
	uint32_t code = 0;
	unsigned n = 0;

	for (int len = 1; len <= HUFFMAN_MAX_BITS; len++) {
		huff.first[len] = code;
		huff.index[len] = n;
		for (int s = 0; s < 257; s++) {
			if (huffman_len[s] == len)
				huff.syms[n++] = s;
		}
		huff.count[len] = n - huff.index[len];
		code = (code + huff.count[len]) << 1;
	}
}

long hpack_huffman_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	uint32_t code = 0;
	size_t n = 0;
	int bits = 0;
	bool ones = true; /* the bits of the pending code are all 1 */

	pthread_once(&huff_once, huffman_setup);
	for (size_t i = 0; i < len; i++) {
		for (int b = 7; b >= 0; b--) {
			unsigned bit = (in[i] >> b) & 1;

			code = code << 1 | bit;
			ones &= bit;
			bits++;
			if (huff.count[bits] && code - huff.first[bits] < huff.count[bits]) {
				unsigned sym =
				    huff.syms[huff.index[bits] + code - huff.first[bits]];

				if (sym == 256 || n >= cap)
					return -1; /* EOS inside a string is an error */
				out[n++] = sym;
				code = 0;
				bits = 0;
				ones = true;
			} else if (bits >= HUFFMAN_MAX_BITS) {
				return -1;
			}
		}
	}
	/* Padding: at most 7 bits, all ones (a prefix of EOS). */
	if (bits > 7 || !ones)
		return -1;
	return n;
}

/* ---- the dynamic table -------------------------------------------------- */

/* Memory of all tables (entries and rings): the event loop is the only
 * user, so no lock. */
static size_t held;

size_t hpack_bytes_held(void)
{
	return held;
}

static size_t entry_bytes(const struct hpack_entry *e)
{
	return sizeof(*e) + e->name_len + e->value_len;
}

static size_t entry_size(const struct hpack_entry *e)
{
	return e->name_len + e->value_len + 32;
}

/* The d-th newest entry (d >= 1), or NULL when not held. */
static struct hpack_entry *entry_at(const struct hpack_decoder *d, uint64_t n)
{
	if (n == 0 || n > d->count)
		return NULL;
	return d->ring[(d->head + d->cap - n) % d->cap];
}

static void evict_oldest(struct hpack_decoder *d)
{
	unsigned oldest = (d->head + d->cap - d->count) % d->cap;

	d->size -= entry_size(d->ring[oldest]);
	held -= entry_bytes(d->ring[oldest]);
	free(d->ring[oldest]);
	d->ring[oldest] = NULL;
	d->count--;
}

static void evict_to(struct hpack_decoder *d, size_t max)
{
	while (d->count && d->size > max)
		evict_oldest(d);
}

/*
 * The table size bounding what we hold. Unknown (we joined late, or lost a
 * block that may have changed it): the largest we accept, so that we never
 * conclude the peer dropped an entry it may still hold.
 */
static size_t max_size(const struct hpack_decoder *d)
{
	return d->max_known ? d->max_size : HPACK_TABLE_MAX;
}

void hpack_init(struct hpack_decoder *d, bool partial)
{
	memset(d, 0, sizeof(*d));
	d->max_size = HPACK_TABLE_DEFAULT;
	d->max_known = !partial;
	d->partial = partial;
}

static void empty(struct hpack_decoder *d)
{
	while (d->count)
		evict_oldest(d);
}

void hpack_forget(struct hpack_decoder *d)
{
	empty(d);
	d->partial = true;
	d->max_known = false;
}

void hpack_free(struct hpack_decoder *d)
{
	empty(d);
	held -= d->cap * sizeof(*d->ring);
	free(d->ring);
	memset(d, 0, sizeof(*d));
}

/* The ring's room, grown on demand: at most one entry per 32 bytes. */
static bool ring_room(struct hpack_decoder *d)
{
	unsigned cap;
	struct hpack_entry **ring;

	if (d->count < d->cap)
		return true;
	cap = d->cap ? d->cap * 2 : 16;
	if (cap > HPACK_TABLE_MAX / 32 + 1)
		cap = HPACK_TABLE_MAX / 32 + 1;
	if (cap <= d->cap || held + (cap - d->cap) * sizeof(*ring) > HPACK_HELD_MAX)
		return false;
	ring = calloc(cap, sizeof(*ring));
	if (!ring)
		return false;
	held += (cap - d->cap) * sizeof(*ring);
	/* Unroll the old ring, oldest first. */
	for (unsigned i = 0; i < d->count; i++)
		ring[i] = d->ring[(d->head + d->cap - d->count + i) % d->cap];
	free(d->ring);
	d->ring = ring;
	d->cap = cap;
	d->head = d->count;
	return true;
}

/*
 * Insert (RFC 7541 4.4). Holding an entry longer than the peer does is
 * harmless (references count from the newest, and the peer never refers to
 * what it evicted); holding one the peer does not, or numbering one twice,
 * would resolve later references to wrong values. A name we do not know
 * (an unknown entry's) has an unknown size: the peer either inserted the
 * entry or, too large, emptied its table. Either way the entry is the newest
 * it may refer to, and every older one is in doubt: forget those.
 */
static enum hpack_error insert(struct hpack_decoder *d, const struct hpack_field *f)
{
	size_t size = (f->name_known ? f->name_len : 0) + f->value_len + 32;
	struct hpack_entry *e;

	if (!f->name_known) {
		hpack_forget(d);
	} else if (size > max_size(d)) {
		/* The peer empties its table: nothing unknown is left in it. */
		empty(d);
		d->partial = false;
		return HPACK_OK;
	}
	if (size > HPACK_TABLE_MAX)
		return HPACK_TOO_BIG;
	/* Copied before anything is evicted: the name may be that of an
	 * entry the eviction frees (an indexed name, RFC 7541 4.4). */
	e = malloc(sizeof(*e) + (f->name_known ? f->name_len : 0) + f->value_len);
	if (!e)
		return HPACK_NO_MEMORY;
	e->name_known = f->name_known;
	e->name_len = f->name_known ? f->name_len : 0;
	e->value_len = f->value_len;
	if (e->name_len)
		memcpy(e->bytes, f->name, e->name_len);
	if (e->value_len)
		memcpy(e->bytes + e->name_len, f->value, e->value_len);
	evict_to(d, max_size(d) >= size ? max_size(d) - size : 0);
	if (held + sizeof(*e) + size > HPACK_HELD_MAX || !ring_room(d)) {
		free(e);
		return HPACK_TOO_BIG; /* all tables together over their budget */
	}
	d->ring[d->head] = e;
	d->head = (d->head + 1) % d->cap;
	d->count++;
	d->size += size;
	held += entry_bytes(e);
	return HPACK_OK;
}

/* ---- block decoding ----------------------------------------------------- */

struct reader {
	const uint8_t *p, *end;
};

/* An integer with an N-bit prefix (RFC 7541 5.1), at most 2^28. */
static bool read_int(struct reader *r, int prefix, uint64_t *out)
{
	uint64_t max = (1u << prefix) - 1, v;
	int shift = 0;

	if (r->p >= r->end)
		return false;
	v = *r->p++ & max;
	if (v < max) {
		*out = v;
		return true;
	}
	while (r->p < r->end) {
		uint8_t b = *r->p++;

		v += (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (v > (1u << 28))
			return false;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
		if (shift > 28)
			return false;
	}
	return false;
}

/*
 * Decoded strings of the block being read. One for all decoders: blocks
 * are decoded one at a time, by the event loop, and a connection must not
 * hold 64 KiB it rarely needs.
 */
static __thread uint8_t *scratch;

/* A string literal (RFC 7541 5.2), decoded into the scratch. */
static enum hpack_error read_string(struct reader *r, size_t *used, const char **out,
				    size_t *out_len)
{
	bool huffman;
	uint64_t len;
	size_t room;

	if (r->p >= r->end)
		return HPACK_MALFORMED;
	huffman = *r->p & 0x80;
	if (!read_int(r, 7, &len) || len > (uint64_t)(r->end - r->p))
		return HPACK_MALFORMED;
	room = HPACK_LIST_MAX - *used;
	if (!huffman && len > room)
		return HPACK_TOO_BIG;
	if (huffman) {
		long n = hpack_huffman_decode(r->p, len, scratch + *used, room);

		if (n < 0)
			/* Out of room, or not Huffman: tell which by the bound
			 * (5 bits per symbol at best). */
			return len * 8 / 5 > room ? HPACK_TOO_BIG : HPACK_MALFORMED;
		*out_len = n;
	} else {
		memcpy(scratch + *used, r->p, len);
		*out_len = len;
	}
	*out = (const char *)scratch + *used;
	*used += *out_len;
	r->p += len;
	return HPACK_OK;
}

/* Index i (>= 1) into the static then the dynamic table. */
static enum hpack_error lookup(const struct hpack_decoder *d, uint64_t i, struct hpack_field *f,
			       bool want_value)
{
	const struct hpack_entry *e;

	if (i == 0)
		return HPACK_MALFORMED;
	if (i <= HPACK_STATIC_ENTRIES) {
		f->name = static_table[i - 1].name;
		f->name_len = strlen(f->name);
		f->name_known = true;
		if (want_value) {
			f->value = static_table[i - 1].value;
			f->value_len = strlen(f->value);
			f->value_known = true;
		}
		return HPACK_OK;
	}
	e = entry_at(d, i - HPACK_STATIC_ENTRIES);
	if (!e) {
		/* Beyond what we hold: unknown if older entries may exist,
		 * otherwise the peer refers to nothing. */
		if (!d->partial || i - HPACK_STATIC_ENTRIES > HPACK_TABLE_MAX / 32)
			return HPACK_MALFORMED;
		f->name_known = false;
		f->value_known = !want_value;
		return HPACK_OK;
	}
	f->name_known = e->name_known;
	f->name = e->name_known ? e->bytes : NULL;
	f->name_len = e->name_len;
	if (want_value) {
		f->value = e->bytes + e->name_len;
		f->value_len = e->value_len;
		f->value_known = true;
	}
	return HPACK_OK;
}

/* Returns an hpack_error, or 1 for a table size update (no field). */
static int decode_field(struct hpack_decoder *d, struct reader *r, size_t *used,
			struct hpack_field *f, bool *indexing)
{
	uint8_t b = *r->p;
	uint64_t i;
	enum hpack_error err;

	*indexing = false;
	if (b & 0x80) { /* indexed field */
		if (!read_int(r, 7, &i))
			return HPACK_MALFORMED;
		return lookup(d, i, f, true);
	}
	if ((b & 0xe0) == 0x20) { /* dynamic table size update */
		if (!read_int(r, 5, &i))
			return HPACK_MALFORMED;
		if (i > HPACK_TABLE_MAX)
			return HPACK_TOO_BIG;
		d->max_size = i;
		d->max_known = true;
		evict_to(d, i);
		if (i == 0)
			d->partial = false; /* the peer's table is empty */
		return 1;
	}
	/* Literal: with incremental indexing (01), without (0000), never (0001). */
	*indexing = (b & 0xc0) == 0x40;
	if (!read_int(r, *indexing ? 6 : 4, &i))
		return HPACK_MALFORMED;
	if (i) {
		err = lookup(d, i, f, false);
		if (err)
			return err;
	} else {
		err = read_string(r, used, &f->name, &f->name_len);
		if (err)
			return err;
		f->name_known = true;
	}
	err = read_string(r, used, &f->value, &f->value_len);
	f->value_known = true;
	return err;
}

enum hpack_error hpack_decode(struct hpack_decoder *d, const uint8_t *block, size_t len,
			      hpack_field_cb cb, void *ctx)
{
	struct reader r = {block, block ? block + len : block};
	size_t used = 0;

	if (!scratch) {
		scratch = malloc(HPACK_LIST_MAX);
		if (!scratch)
			return HPACK_NO_MEMORY;
	}
	while (r.p < r.end) {
		struct hpack_field f = {0};
		bool indexing;
		int err = decode_field(d, &r, &used, &f, &indexing);

		if (err == 1)
			continue;
		if (err)
			return err;
		/* Fields are counted against the cap as the RFC counts a
		 * header list: name, value and 32 each. */
		if (f.name_len + f.value_len + 32 > HPACK_LIST_MAX - used)
			return HPACK_TOO_BIG;
		used += 32;
		if (cb && cb(&f, ctx))
			return HPACK_OK;
		if (indexing) {
			err = insert(d, &f);
			if (err)
				return err;
		}
	}
	return HPACK_OK;
}
