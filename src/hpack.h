/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HPACK (RFC 7541) header block decoding that knows what it does not know.
 *
 * A decoder that joined a connection late, or lost a header block, cannot
 * know the entries inserted before: a general-purpose inflater (nghttp2's)
 * then fails, or worse, resolves an index to another header's value. Ours
 * numbers the entries it saw inserted from the newest down, as the peer's
 * encoder does: a reference to the d-th newest entry is certain when we saw
 * at least d insertions since we started (or since the last loss), whatever
 * came before; otherwise the field is reported as unknown, never guessed.
 * (Datadog's kernel decoder counts insertions the same way.)
 *
 * Memory is bounded: the table holds at most HPACK_TABLE_MAX bytes in the
 * RFC's accounting (entries + 32 each), a block's decoded fields at most
 * HPACK_LIST_MAX bytes.
 */
#ifndef HPACK_H
#define HPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HPACK_TABLE_DEFAULT  4096	       /* SETTINGS_HEADER_TABLE_SIZE's default */
#define HPACK_TABLE_MAX	     (64 * 1024)       /* larger tables are refused */
#define HPACK_LIST_MAX	     (64 * 1024)       /* decoded bytes of one header block */
#define HPACK_HELD_MAX	     (2 * 1024 * 1024) /* all decoders' tables together */
#define HPACK_STATIC_ENTRIES 61

/* One decoded field. A part not known (see above) has known == false and
 * its pointer is NULL. Pointers are valid during the callback only. */
struct hpack_field {
	const char *name, *value;
	size_t name_len, value_len;
	bool name_known, value_known;
};

struct hpack_entry;

struct hpack_decoder {
	struct hpack_entry **ring; /* newest at ring[(head + cap - 1) % cap] */
	unsigned cap, head, count;
	size_t size;	 /* RFC 7541 size of the entries held */
	size_t max_size; /* the encoder's current table size */
	bool max_known;	 /* max_size was seen (not assumed) */
	bool partial;	 /* older entries we never saw may exist */
};

enum hpack_error {
	HPACK_OK = 0,
	HPACK_MALFORMED = -1, /* not valid HPACK: the table is no longer known */
	HPACK_TOO_BIG = -2,   /* over a cap: a table size or decoded list too large */
	HPACK_NO_MEMORY = -3,
};

/* Returns non-zero to stop decoding (the block's remaining insertions are
 * then not applied: only do that when the decoder is to be forgotten). */
typedef int (*hpack_field_cb)(const struct hpack_field *f, void *ctx);

/* partial: the connection's earlier blocks were not seen. */
void hpack_init(struct hpack_decoder *d, bool partial);
void hpack_free(struct hpack_decoder *d);

/* Blocks were lost: every entry held may be misnumbered. Forget them. */
void hpack_forget(struct hpack_decoder *d);

/* Decode one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION
 * fragments, padding removed). Fields go to cb in order. */
enum hpack_error hpack_decode(struct hpack_decoder *d, const uint8_t *block, size_t len,
			      hpack_field_cb cb, void *ctx);

/* Bytes the tables of all decoders hold (bounded by HPACK_HELD_MAX: an
 * insertion beyond it fails with HPACK_TOO_BIG). */
size_t hpack_bytes_held(void);

/* Huffman-decode (RFC 7541 Appendix B) into out (room: cap bytes);
 * returns the decoded length or -1 (invalid code, bad padding, EOS, room). */
long hpack_huffman_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

#endif /* HPACK_H */
