/*
 * Native record walk for pcap and pcapng: the frames a capture read can
 * settle from their header bytes alone, settled without making a Python
 * object per frame.
 *
 * Most frames of a capture are download segments of flows already in the
 * table, and in a partitioned run (--jobs) half of the rest belong to another
 * worker. Both need only a dictionary lookup on a few header bytes, so the
 * Python loop around them costs far more than the work. pcap() and pcapng()
 * walk records (Enhanced Packet Blocks) from a position in the reader's
 * buffer and take each one that is
 *
 *   - a server-to-client IPv4 TCP segment of a flow in FlowTable.bulk that
 *     FlowTable.feed_response would account without events: no FIN/RST,
 *     no sweep due, the consumer not wanting the server's bytes, nothing of
 *     the client's waiting for this ACK; its byte count, frame count, last
 *     frame, packet count and last time are written to the FlowState exactly
 *     as the Python path writes them;
 *   - a client-to-server IPv4 TCP segment without data or SYN/FIN/RST of a
 *     flow in FlowTable.client_acks (its client stream is settled, so the
 *     segment changes only counters), under the same conditions; or
 *   - a TCP segment without data that is not a new SYN, on a 5-tuple in
 *     FlowTable.closed_raw (a connection closed by FIN or RST): counted and
 *     dropped, as FlowTable.feed drops it; or
 *   - a plain IPv4 TCP/UDP frame of a flow that capture.flow_partition (the
 *     same CRC-32 of the same text, computed here) gives to another worker,
 *     DNS excepted: dropped.
 *
 * Within one call each flow direction is looked up once (a small table of
 * slots keyed by its header bytes) and each flow's counters are written back
 * once, when the call ends: downloads interleave a few flows' segments and
 * ACKs, and the per-frame lookups and attribute writes were most of the cost.
 *
 * It stops at the first record it cannot take, whatever the reason (a
 * different packet, a record header the reader must doubt, a record that
 * runs past the buffer, a sweep or a progress report due), and returns where
 * it stopped; the Python reader and CaptureSource handle that record as if
 * the walk did not exist. It never reads outside the buffer and never raises
 * for any input bytes. The Python side is sources/skim.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define LINKTYPE_ETHERNET 1
#define RECORD_HEADER 16
#define KEY_LEN 13

static PyObject *s_want_resp, *s_orig, *s_buffered, *s_resp_bytes, *s_frames, *s_seen,
    *s_last_frame, *s_last_ts;

static inline uint32_t read32(const unsigned char *p, int big_endian)
{
    if (big_endian)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* The key of an option-less IPv4 header's flow direction in every table: its
   protocol, addresses and ports (13 bytes). Made once per frame, so its hash is
   computed once for all the tables it is looked up in. */
static PyObject *make_key(const unsigned char *ip)
{
    PyObject *key = PyBytes_FromStringAndSize(NULL, KEY_LEN);
    if (key == NULL)
        return NULL;
    char *k = PyBytes_AS_STRING(key);
    k[0] = (char)ip[9];
    memcpy(k + 1, ip + 12, KEY_LEN - 1);
    return key;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* CRC-32 as zlib.crc32 computes it. */
static uint32_t crc32_of(const char *s, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--)
        c = crc_table[(c ^ (unsigned char)*s++) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* Decimal digits of v at p; returns the end. */
static char *put_uint(char *p, unsigned v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "a.b.c.d/port" at p, as Python formats f"{inet_ntoa(addr)}/{port}"; returns the end. */
static char *put_endpoint(char *p, const unsigned char *addr, unsigned port)
{
    for (int i = 0; i < 4; i++) {
        p = put_uint(p, addr[i]);
        *p++ = i < 3 ? '.' : '/';
    }
    return put_uint(p, port);
}

/* capture.flow_partition for the flow of a 13-byte key (protocol, addresses,
   ports): the same text hashed the same way, so both sides agree on owners.
   Written out by hand: with snprintf a call took 0.47 us from Python instead
   of 0.21, and the walk asks for each direction of another worker's flow. */
static long partition_of(const unsigned char *raw, long count)
{
    char a[24], b[24], text[64];
    size_t na = (size_t)(put_endpoint(a, raw + 1, (unsigned)(raw[9] << 8 | raw[10])) - a);
    size_t nb = (size_t)(put_endpoint(b, raw + 5, (unsigned)(raw[11] << 8 | raw[12])) - b);
    /* Python compares the two strings: code points in order, a prefix first. */
    int cmp = memcmp(a, b, na < nb ? na : nb);
    int swap = cmp > 0 || (cmp == 0 && nb < na);
    const char *lo = swap ? b : a, *hi = swap ? a : b;
    size_t nlo = swap ? nb : na, nhi = swap ? na : nb;
    char *p = text;
    memcpy(p, lo, nlo);
    p += nlo;
    *p++ = '/';
    memcpy(p, hi, nhi);
    p += nhi;
    *p++ = '/';
    p = put_uint(p, raw[0]);
    return (long)(crc32_of(text, (size_t)(p - text)) % (uint32_t)count);
}

static int truthy_attr(PyObject *obj, PyObject *name)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

static int set_long(PyObject *obj, PyObject *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL)
        return -1;
    int rc = PyObject_SetAttr(obj, name, v);
    Py_DECREF(v);
    return rc;
}

/* An int attribute's value in *out; -1 with an error set. */
static int get_long(PyObject *obj, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL)
        return -1;
    *out = PyLong_AsLongLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

static int add_long(PyObject *obj, PyObject *name, long long delta)
{
    long long now;
    return get_long(obj, name, &now) < 0 ? -1 : set_long(obj, name, now + delta);
}

/* NOT_MINE: Python must read the frame and judge whose it is; TAKEN: settled here;
   LEFT: a frame of a flow in this worker's table that Python must handle; OWNED: a
   plain IPv4 TCP/UDP frame this worker keeps (no other worker's flow, or DNS), which
   Python need not judge again. */
enum { NOT_MINE = 0, TAKEN = 1, LEFT = 2, OWNED = 3 };

/* Where the TCP payload of an option-less Ethernet/IPv4 frame of at least 54
   bytes starts and ends; 0, or -1 when Python must read the frame (a
   fragment, a header that does not add up). */
static int tcp_payload(const unsigned char *d, Py_ssize_t len, Py_ssize_t *start,
                       Py_ssize_t *end)
{
    if ((d[20] & 0x3F) || d[21])
        return -1; /* a fragment */
    Py_ssize_t total = ((Py_ssize_t)d[16] << 8) | d[17];
    *end = total ? 14 + total : len;
    if (*end > len)
        *end = len;
    Py_ssize_t doff = (Py_ssize_t)(d[46] >> 4) << 2;
    *start = 34 + doff;
    return doff < 20 || *start > *end ? -1 : 0;
}

enum { IN_NONE = 0, IN_BULK, IN_ACKS, IN_CLOSED };

#define SLOTS 64 /* directions remembered per walk call; a power of two, at most 64 */

/* One flow direction met during a walk call: where its key was found, and the
   counters of its frames taken since then, written back to the flow when the
   call ends or the slot is wanted for another direction. */
typedef struct {
    unsigned char raw[KEY_LEN];
    int ethernet;          /* met in an Ethernet frame: only those are looked up in the tables */
    int where;             /* IN_*: the table the direction is in (Ethernet frames) */
    int foreign;           /* 1 another worker's flow, 0 not (or not a plain TCP/UDP one) */
    PyObject *flow;        /* owned, for IN_BULK and IN_ACKS */
    int wanted;            /* flow.want_resp; -2 not read yet */
    int waiting;           /* flow._orig.buffered; -2 not read yet */
    Py_ssize_t pend_bytes;
    long long pend_frames, pend_seen, pend_frame;
    double pend_ts;
} Slot;

/* What a walk takes frames against, the flow table's packet count, and the
   directions already met. Frames of a few flows come interleaved (a download's
   segments, the client's ACKs, the next flow's), so each direction is looked
   up once per call and each flow's counters are written back once. Nothing
   but this walk changes the tables or the flows while it runs (dict lookups
   on bytes keys and slot attributes run no Python code), so what the first
   lookup found holds for the rest of the call. */
typedef struct {
    PyObject *bulk, *acks, *closed;
    long part_index, part_count; /* this worker's partition; part_count 0 outside one */
    long long count, next_sweep;
    uint64_t occupied; /* bit i: slots[i] holds a direction */
    Slot slots[SLOTS];
} Tables;

/* Write a slot's counters to its flow, as FlowTable writes them per frame. */
static int flush(Slot *slot)
{
    if (slot->flow == NULL || slot->pend_frames == 0)
        return 0;
    PyObject *flow = slot->flow;
    long long frames = slot->pend_frames;
    Py_ssize_t bytes = slot->pend_bytes;
    slot->pend_frames = 0;
    slot->pend_bytes = 0;
    if ((bytes && add_long(flow, s_resp_bytes, (long long)bytes) < 0) ||
        add_long(flow, s_frames, frames) < 0)
        return -1;
    /* Both directions of a flow may hold counters: the later frame's marks win. */
    long long seen_now;
    if (get_long(flow, s_seen, &seen_now) < 0)
        return -1;
    if (slot->pend_seen > seen_now && (set_long(flow, s_seen, slot->pend_seen) < 0 ||
                                       set_long(flow, s_last_frame, slot->pend_frame) < 0))
        return -1;
    PyObject *last = PyObject_GetAttr(flow, s_last_ts);
    if (last == NULL)
        return -1;
    double last_ts = PyFloat_AsDouble(last);
    Py_DECREF(last);
    if (last_ts == -1.0 && PyErr_Occurred())
        return -1;
    if (slot->pend_ts > last_ts) {
        PyObject *v = PyFloat_FromDouble(slot->pend_ts);
        if (v == NULL)
            return -1;
        int rc = PyObject_SetAttr(flow, s_last_ts, v);
        Py_DECREF(v);
        return rc;
    }
    return 0;
}

/* Empty a slot: its counters written back (unless an error is already set),
   its flow let go. */
static int release(Tables *t, int i)
{
    Slot *slot = &t->slots[i];
    int rc = PyErr_Occurred() ? -1 : flush(slot);
    Py_CLEAR(slot->flow);
    t->occupied &= ~((uint64_t)1 << i);
    return rc;
}

/* End of a walk call: every slot released; -1 if any write-back failed. */
static int release_all(Tables *t)
{
    int rc = 0;
    for (int i = 0; i < SLOTS; i++)
        if (t->occupied >> i & 1 && release(t, i) < 0)
            rc = -1;
    return rc;
}

/* The slot of an option-less IPv4 header's direction, looked up if new. */
static Slot *locate(Tables *t, const unsigned char *ip, int ethernet)
{
    unsigned char raw[KEY_LEN];
    raw[0] = ip[9];
    memcpy(raw + 1, ip + 12, KEY_LEN - 1);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int j = 0; j < KEY_LEN; j++)
        h = (h ^ raw[j]) * 16777619u;
    int i = (int)((h ^ h >> 16) & (SLOTS - 1));
    Slot *slot = &t->slots[i];
    if (t->occupied >> i & 1) {
        if (slot->ethernet == ethernet && memcmp(raw, slot->raw, KEY_LEN) == 0)
            return slot;
        if (release(t, i) < 0)
            return NULL;
    }
    PyObject *key = make_key(ip);
    if (key == NULL)
        return NULL;
    int where = IN_NONE;
    PyObject *flow = NULL;
    if (ethernet) {
        flow = PyDict_GetItemWithError(t->bulk, key);
        if (flow != NULL)
            where = IN_BULK;
        else if (!PyErr_Occurred() && (flow = PyDict_GetItemWithError(t->acks, key)) != NULL)
            where = IN_ACKS;
        else if (!PyErr_Occurred() && PyDict_GetItemWithError(t->closed, key) != NULL)
            where = IN_CLOSED;
    }
    Py_DECREF(key);
    /* Not in this worker's table: its partition says whose it is (DNS is everyone's). */
    int foreign = 0;
    if (where == IN_NONE && t->part_count > 0 && (raw[0] == 6 || raw[0] == 17)) {
        unsigned sport = (unsigned)(raw[9] << 8 | raw[10]), dport = (unsigned)(raw[11] << 8 | raw[12]);
        foreign = sport != 53 && dport != 53 && partition_of(raw, t->part_count) != t->part_index;
    }
    if (PyErr_Occurred())
        return NULL;
    memcpy(slot->raw, raw, KEY_LEN);
    slot->ethernet = ethernet;
    Py_XINCREF(flow);
    slot->flow = flow;
    slot->where = where;
    slot->foreign = foreign;
    slot->wanted = slot->waiting = -2;
    slot->pend_bytes = 0;
    slot->pend_frames = 0;
    t->occupied |= (uint64_t)1 << i;
    return slot;
}

/* An Ethernet/IPv4/TCP segment of a slot's flow (in bulk for downloads,
   client_acks for the client's ACKs): TAKEN when accounted, LEFT when Python
   must handle it; -1 with an error set. */
static int take_segment(Tables *t, Slot *slot, int download, const unsigned char *d,
                        Py_ssize_t len, double ts, long long frame)
{
    Py_ssize_t start, end;
    if (tcp_payload(d, len, &start, &end) < 0)
        return LEFT;
    int flags = d[47];
    /* A server's SYN changes nothing the client's side needs; a client's may
       start its stream or a new connection on the same ports. */
    if (flags & (TCP_FIN | TCP_RST | (download ? 0 : TCP_SYN)) || t->count + 1 >= t->next_sweep)
        return LEFT;
    if (!download && end != start)
        return LEFT; /* the client sent data */
    if (slot->wanted == -2 && (slot->wanted = truthy_attr(slot->flow, s_want_resp)) < 0)
        return -1;
    if (slot->wanted)
        return LEFT; /* the consumer reassembles the server's bytes */
    if (download && flags & TCP_ACK) {
        if (slot->waiting == -2) {
            PyObject *orig = PyObject_GetAttr(slot->flow, s_orig);
            if (orig == NULL)
                return -1;
            slot->waiting = orig == Py_None ? 0 : truthy_attr(orig, s_buffered);
            Py_DECREF(orig);
            if (slot->waiting < 0)
                return -1;
        }
        if (slot->waiting)
            return LEFT; /* the client's data waits for this ACK */
    }
    t->count += 1;
    if (download)
        slot->pend_bytes += end - start;
    if (slot->pend_frames++ == 0 || ts > slot->pend_ts)
        slot->pend_ts = ts;
    slot->pend_seen = t->count;
    slot->pend_frame = frame;
    return TAKEN;
}

/* TAKEN: a stray segment of a closed connection, counted and dropped; LEFT:
   Python must see it (data, a new SYN, a sweep due). */
static int take_closed(Tables *t, const unsigned char *d, Py_ssize_t len)
{
    Py_ssize_t start, end;
    if (tcp_payload(d, len, &start, &end) < 0 || end != start)
        return LEFT; /* data after the close is reported */
    if ((d[47] & (TCP_SYN | TCP_ACK)) == TCP_SYN || t->count + 1 >= t->next_sweep)
        return LEFT; /* a new connection on the same ports */
    t->count += 1;
    return TAKEN;
}

static int parse_tables(PyObject *tables, PyObject *count, PyObject *next_sweep, Tables *t)
{
    t->occupied = 0;
    t->part_index = t->part_count = 0;
    if (!PyTuple_Check(tables) || PyTuple_GET_SIZE(tables) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "tables must be (bulk, client_acks, closed_raw, partition)");
        return -1;
    }
    t->bulk = PyTuple_GET_ITEM(tables, 0);
    t->acks = PyTuple_GET_ITEM(tables, 1);
    t->closed = PyTuple_GET_ITEM(tables, 2);
    PyObject *part = PyTuple_GET_ITEM(tables, 3);
    if (!PyDict_Check(t->bulk) || !PyDict_Check(t->acks) || !PyDict_Check(t->closed)) {
        PyErr_SetString(PyExc_TypeError, "bulk, client_acks and closed_raw must be dicts");
        return -1;
    }
    if (part != Py_None) {
        if (!PyArg_ParseTuple(part, "ll", &t->part_index, &t->part_count))
            return -1;
        if (t->part_count < 1 || t->part_index < 0 || t->part_index >= t->part_count) {
            PyErr_SetString(PyExc_ValueError, "partition must be (index, count), index < count");
            return -1;
        }
    }
    t->count = PyLong_AsLongLong(count);
    t->next_sweep = PyLong_AsLongLong(next_sweep);
    return PyErr_Occurred() ? -1 : 0;
}

/* One frame: TAKEN, or another value when Python must read it; -1 on error. */
static int take_frame(Tables *t, long linktype, const unsigned char *d, Py_ssize_t len,
                      double ts, long long frame)
{
    const unsigned char *ip;
    int ethernet = linktype == LINKTYPE_ETHERNET;
    if (ethernet) {
        if (len < 38 || d[12] != 0x08 || d[13] != 0x00)
            return NOT_MINE;
        ip = d + 14;
    } else if ((linktype == 101 || linktype == 228) && len >= 24) {
        ip = d; /* raw IPv4 */
    } else {
        return NOT_MINE;
    }
    if (ip[0] != 0x45)
        return NOT_MINE; /* not IPv4, or IP options */
    Slot *slot = locate(t, ip, ethernet);
    if (slot == NULL)
        return -1;
    /* The frames capture._Owners.of_frame judges from their header bytes. */
    int proto = ip[9];
    int plain = (proto == 6 || proto == 17) && !(ip[6] & 0x3F) && !ip[7];
    if (ethernet && len >= 54 && slot->where != IN_NONE) {
        int took = slot->where == IN_CLOSED
                       ? take_closed(t, d, len)
                       : take_segment(t, slot, slot->where == IN_BULK, d, len, ts, frame);
        return took == LEFT && plain ? OWNED : took; /* a flow of this worker's table */
    }
    if (plain)
        return slot->foreign ? TAKEN /* another worker's frame */ : OWNED;
    return NOT_MINE;
}

PyDoc_STRVAR(pcap_doc,
"pcap(buf, pos, index, prev_sec, limit, big_endian, scale, max_jump, linktype,\n"
"     tables, count, next_sweep, stop_index) -> (pos, index, prev_sec, count, owned)\n"
"\n"
"Take the classic-pcap records from buf[pos] on that need no Python work (see\n"
"the module source); stop before the first one that does, or before frame\n"
"stop_index. prev_sec is -1 when no record was read yet; tables is\n"
"(bulk, client_acks, closed_raw, (partition index, count) or None). owned is\n"
"1 when the record it stopped at is known to be this worker's frame: its\n"
"flow is in the tables, or it is a plain IPv4 TCP/UDP frame that the partition\n"
"(or DNS) gives to this worker.");

static PyObject *skim_pcap(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "pcap() takes 13 arguments");
        return NULL;
    }
    PyObject *buf = args[0];
    if (!PyBytes_Check(buf)) {
        PyErr_SetString(PyExc_TypeError, "pcap(): buf must be bytes");
        return NULL;
    }
    Tables t;
    if (parse_tables(args[9], args[10], args[11], &t) < 0)
        return NULL;
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long index = PyLong_AsLongLong(args[2]);
    long long prev_sec = PyLong_AsLongLong(args[3]);
    long long limit = PyLong_AsLongLong(args[4]);
    int big_endian = PyObject_IsTrue(args[5]);
    double scale = PyFloat_AsDouble(args[6]);
    long long max_jump = PyLong_AsLongLong(args[7]);
    long linktype = PyLong_AsLong(args[8]);
    long long stop_index = PyLong_AsLongLong(args[12]);
    if (PyErr_Occurred())
        return NULL;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(buf);
    Py_ssize_t n = PyBytes_GET_SIZE(buf);
    if (pos < 0)
        pos = n; /* nothing to take */

    int owned = 0;
    Py_INCREF(buf); /* a dict lookup may run Python code; keep the buffer alive */
    while (index + 1 < stop_index && pos <= n - RECORD_HEADER) {
        const unsigned char *h = b + pos;
        long long sec = read32(h, big_endian);
        uint32_t frac = read32(h + 4, big_endian);
        long long incl = read32(h + 8, big_endian);
        if (incl > limit)
            break;
        if (prev_sec >= 0 && (sec > prev_sec ? sec - prev_sec : prev_sec - sec) > max_jump)
            break;
        if (incl > n - pos - RECORD_HEADER)
            break;
        double ts = (double)sec + (double)frac * scale;
        int took = take_frame(&t, linktype, h + RECORD_HEADER, (Py_ssize_t)incl, ts, index + 1);
        if (took < 0) {
            release_all(&t);
            Py_DECREF(buf);
            return NULL;
        }
        if (took != TAKEN) {
            owned = took == OWNED;
            break;
        }
        index += 1;
        prev_sec = sec;
        pos += RECORD_HEADER + (Py_ssize_t)incl;
    }
    Py_DECREF(buf);
    if (release_all(&t) < 0)
        return NULL;
    return Py_BuildValue("(nLLLi)", pos, index, prev_sec, t.count, owned);
}

#define BT_EPB 6
#define EPB_HEADER 28

PyDoc_STRVAR(pcapng_doc,
"pcapng(buf, pos, index, last_ts, big_endian, interfaces, max_block,\n"
"       tables, count, next_sweep, stop_index) -> (pos, index, last_ts, count, owned)\n"
"\n"
"The same for the Enhanced Packet Blocks of a pcapng section from buf[pos] on;\n"
"interfaces is a tuple of (linktype, ticks per second, offset seconds) per\n"
"interface id. Any other block, or one whose lengths disagree, is left.");

static PyObject *skim_pcapng(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "pcapng() takes 11 arguments");
        return NULL;
    }
    PyObject *buf = args[0];
    PyObject *ifaces = args[5];
    if (!PyBytes_Check(buf) || !PyTuple_Check(ifaces)) {
        PyErr_SetString(PyExc_TypeError, "pcapng(): buf must be bytes, interfaces a tuple");
        return NULL;
    }
    Tables t;
    if (parse_tables(args[7], args[8], args[9], &t) < 0)
        return NULL;
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    long long index = PyLong_AsLongLong(args[2]);
    double last_ts = PyFloat_AsDouble(args[3]);
    int big_endian = PyObject_IsTrue(args[4]);
    long long max_block = PyLong_AsLongLong(args[6]);
    long long stop_index = PyLong_AsLongLong(args[10]);
    if (PyErr_Occurred())
        return NULL;
    Py_ssize_t nifaces = PyTuple_GET_SIZE(ifaces);
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(buf);
    Py_ssize_t n = PyBytes_GET_SIZE(buf);
    if (pos < 0)
        pos = n;

    int owned = 0;
    Py_INCREF(buf);
    Py_INCREF(ifaces);
    PyObject *result = NULL;
    while (index + 1 < stop_index && pos <= n - 12) {
        const unsigned char *h = b + pos;
        long long blen = read32(h + 4, big_endian);
        if (read32(h, big_endian) != BT_EPB || blen < 32 || blen % 4 || blen > max_block ||
            blen > n - pos || read32(h + blen - 4, big_endian) != blen)
            break;
        uint32_t ifid = read32(h + 8, big_endian);
        uint64_t ticks = ((uint64_t)read32(h + 12, big_endian) << 32) | read32(h + 16, big_endian);
        long long caplen = read32(h + 20, big_endian);
        if (caplen > blen - 32 || (Py_ssize_t)ifid >= nifaces)
            break;
        PyObject *iface = PyTuple_GET_ITEM(ifaces, ifid);
        if (!PyTuple_Check(iface) || PyTuple_GET_SIZE(iface) != 3) {
            PyErr_SetString(PyExc_TypeError, "an interface must be (linktype, units, offset)");
            goto out;
        }
        long linktype = PyLong_AsLong(PyTuple_GET_ITEM(iface, 0));
        double units = PyFloat_AsDouble(PyTuple_GET_ITEM(iface, 1));
        double offset = PyFloat_AsDouble(PyTuple_GET_ITEM(iface, 2));
        if (PyErr_Occurred())
            goto out;
        double ts = (double)ticks / units + offset;
        int took = take_frame(&t, linktype, h + EPB_HEADER, (Py_ssize_t)caplen, ts, index + 1);
        if (took < 0)
            goto out;
        if (took != TAKEN) {
            owned = took == OWNED;
            break;
        }
        index += 1;
        last_ts = ts;
        pos += (Py_ssize_t)blen;
    }
    if (release_all(&t) == 0)
        result = Py_BuildValue("(nLdLi)", pos, index, last_ts, t.count, owned);
out:
    release_all(&t);
    Py_DECREF(ifaces);
    Py_DECREF(buf);
    return result;
}

PyDoc_STRVAR(partition_doc,
"partition(key, count) -> int\n"
"\n"
"The partition capture.flow_partition gives the flow of a 13-byte key\n"
"(protocol, source and destination address, source and destination port).");

static PyObject *skim_partition(PyObject *self, PyObject *args)
{
    (void)self;
    const char *raw;
    Py_ssize_t len;
    long count;
    if (!PyArg_ParseTuple(args, "y#l", &raw, &len, &count))
        return NULL;
    if (len != KEY_LEN || count < 1) {
        PyErr_SetString(PyExc_ValueError, "partition(): a 13-byte key and a count of at least 1");
        return NULL;
    }
    return PyLong_FromLong(partition_of((const unsigned char *)raw, count));
}

static PyMethodDef methods[] = {
    {"pcap", (PyCFunction)(void (*)(void))skim_pcap, METH_FASTCALL, pcap_doc},
    {"pcapng", (PyCFunction)(void (*)(void))skim_pcapng, METH_FASTCALL, pcapng_doc},
    {"partition", skim_partition, METH_VARARGS, partition_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "leaktrace.sources._skim",
    "Native record walk for pcap and pcapng (see pcap and pcapng).", -1, methods,
};

static PyObject *intern(const char *s)
{
    return PyUnicode_InternFromString(s);
}

PyMODINIT_FUNC PyInit__skim(void)
{
    if (!(s_want_resp = intern("want_resp")) || !(s_orig = intern("_orig")) ||
        !(s_buffered = intern("buffered")) || !(s_resp_bytes = intern("resp_bytes")) ||
        !(s_frames = intern("frames")) || !(s_seen = intern("_seen")) ||
        !(s_last_frame = intern("_last_frame")) || !(s_last_ts = intern("last_ts")))
        return NULL;
    crc_init();
    return PyModule_Create(&module);
}
