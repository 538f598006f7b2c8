/*
 * milter_proto: the Sendmail milter protocol (version 6) as mxd speaks it to a content filter
 * (rspamd, OpenDKIM, ...): framing, the commands mxd sends and the replies a milter sends back. Pure
 * functions, no I/O, thread-safe.
 *
 * A packet is a 32-bit big-endian length (the command octet included), one command octet, then its
 * data. Strings in the data are NUL-terminated. The milter is another program, possibly broken: every
 * reply is read as hostile. A packet longer than MILTER_PROTO_PACKET_MAX, a string without its NUL, a
 * reply code outside 4xx/5xx, a header name that is not a field name, an address or a header value with
 * a control character that could start a line of its own: each is an error (-1 with *error_r, a static
 * string), and the caller treats the milter as failed.
 */
#ifndef MXD_MILTER_PROTO_H
#define MXD_MILTER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define MILTER_PROTO_VERSION    6
#define MILTER_PROTO_PACKET_MAX (256 * 1024) /* a reply's length field, command octet included */
#define MILTER_PROTO_CHUNK_MAX  65535        /* body octets per SMFIC_BODY */
#define MILTER_PROTO_ADDR_MAX   512
#define MILTER_PROTO_HNAME_MAX  128
#define MILTER_PROTO_HVALUE_MAX 16384
#define MILTER_PROTO_TEXT_MAX   480 /* reply text kept from a milter */

/* Commands (mxd -> milter). */
enum milter_cmd {
	MILTER_CMD_ABORT = 'A',
	MILTER_CMD_BODY = 'B',
	MILTER_CMD_CONNECT = 'C',
	MILTER_CMD_MACRO = 'D',
	MILTER_CMD_BODYEOB = 'E',
	MILTER_CMD_HELO = 'H',
	MILTER_CMD_HEADER = 'L',
	MILTER_CMD_MAIL = 'M',
	MILTER_CMD_EOH = 'N',
	MILTER_CMD_OPTNEG = 'O',
	MILTER_CMD_QUIT = 'Q',
	MILTER_CMD_RCPT = 'R',
	MILTER_CMD_DATA = 'T',
};

/* Replies (milter -> mxd). */
enum milter_reply_type {
	MILTER_REPLY_ADDRCPT = '+',
	MILTER_REPLY_DELRCPT = '-',
	MILTER_REPLY_ADDRCPT_PAR = '2',
	MILTER_REPLY_SHUTDOWN = '4',
	MILTER_REPLY_ACCEPT = 'a',
	MILTER_REPLY_REPLBODY = 'b',
	MILTER_REPLY_CONTINUE = 'c',
	MILTER_REPLY_DISCARD = 'd',
	MILTER_REPLY_CHGFROM = 'e',
	MILTER_REPLY_CONN_FAIL = 'f',
	MILTER_REPLY_ADDHEADER = 'h',
	MILTER_REPLY_INSHEADER = 'i',
	MILTER_REPLY_SETSYMLIST = 'l',
	MILTER_REPLY_CHGHEADER = 'm',
	MILTER_REPLY_PROGRESS = 'p',
	MILTER_REPLY_QUARANTINE = 'q',
	MILTER_REPLY_REJECT = 'r',
	MILTER_REPLY_SKIP = 's',
	MILTER_REPLY_TEMPFAIL = 't',
	MILTER_REPLY_REPLYCODE = 'y',
	MILTER_REPLY_OPTNEG = 'O',
};

/* Actions a milter may take (SMFIF_*): what mxd offers in OPTNEG. */
#define MILTER_ACT_ADDHDRS     0x001u
#define MILTER_ACT_CHGBODY     0x002u
#define MILTER_ACT_ADDRCPT     0x004u
#define MILTER_ACT_DELRCPT     0x008u
#define MILTER_ACT_CHGHDRS     0x010u
#define MILTER_ACT_QUARANTINE  0x020u
#define MILTER_ACT_CHGFROM     0x040u
#define MILTER_ACT_ADDRCPT_PAR 0x080u
#define MILTER_ACT_SETSYMLIST  0x100u
#define MILTER_ACT_ALL         0x1ffu

/* Protocol steps a milter may skip or not answer (SMFIP_*). */
#define MILTER_P_NOCONNECT   0x000001u
#define MILTER_P_NOHELO      0x000002u
#define MILTER_P_NOMAIL      0x000004u
#define MILTER_P_NORCPT      0x000008u
#define MILTER_P_NOBODY      0x000010u
#define MILTER_P_NOHDRS      0x000020u
#define MILTER_P_NOEOH       0x000040u
#define MILTER_P_NR_HDR      0x000080u
#define MILTER_P_NOUNKNOWN   0x000100u
#define MILTER_P_NODATA      0x000200u
#define MILTER_P_SKIP        0x000400u
#define MILTER_P_RCPT_REJ    0x000800u
#define MILTER_P_NR_CONN     0x001000u
#define MILTER_P_NR_HELO     0x002000u
#define MILTER_P_NR_MAIL     0x004000u
#define MILTER_P_NR_RCPT     0x008000u
#define MILTER_P_NR_DATA     0x010000u
#define MILTER_P_NR_UNKN     0x020000u
#define MILTER_P_NR_EOH      0x040000u
#define MILTER_P_NR_BODY     0x080000u
#define MILTER_P_HDR_LEADSPC 0x100000u
#define MILTER_P_ALL         0x1fffffu

/* One reply, decoded. Pointers point into the packet given to milter_proto_parse(). */
struct milter_reply {
	enum milter_reply_type type;
	/* OPTNEG */
	uint32_t version, actions, protocol;
	/* ADDRCPT, ADDRCPT_PAR, DELRCPT, CHGFROM: the address, <> stripped ("" the null sender) */
	char addr[MILTER_PROTO_ADDR_MAX];
	/* ADDHEADER, INSHEADER, CHGHEADER: name, value ("" with CHGHEADER: delete), index */
	const char *hname, *hvalue;
	uint32_t hindex;
	/* REPLYCODE: code (4xx/5xx), enh ("" when the milter gave none), text (printable, maybe "");
	 * QUARANTINE: text holds the reason */
	int code;
	char enh[16];
	char text[MILTER_PROTO_TEXT_MAX];
	/* REPLBODY: a piece of the new body */
	const uint8_t *body;
	size_t body_len;
};

/* Find one packet at the start of buf (len octets). 1: incomplete, read more; 0: *cmd_r, *data_r and
 * *data_len_r set, *packet_len_r octets make up the packet; -1: the length is 0 or over
 * MILTER_PROTO_PACKET_MAX (*error_r). */
int milter_proto_frame(const uint8_t *buf, size_t len, uint8_t *cmd_r, const uint8_t **data_r,
                       size_t *data_len_r, size_t *packet_len_r, const char **error_r);

/* Decode a reply packet (cmd, data) into *r. 0, or -1 with *error_r for a malformed or unknown one.
 * Header values are checked: folded lines (LF or CRLF then a space or tab) only. */
int milter_proto_parse(uint8_t cmd, const uint8_t *data, size_t len, struct milter_reply *r,
                       const char **error_r);

/* Append one packet: cmd then len octets of data. */
void milter_proto_put(struct evbuffer *out, uint8_t cmd, const void *data, size_t len);

/* Append OPTNEG offering version, actions and protocol flags. */
void milter_proto_put_optneg(struct evbuffer *out, uint32_t version, uint32_t actions, uint32_t protocol);

/* Append one packet whose data is n NUL-terminated strings (strs[i]). */
void milter_proto_put_strings(struct evbuffer *out, uint8_t cmd, const char *const *strs, size_t n);

#endif
