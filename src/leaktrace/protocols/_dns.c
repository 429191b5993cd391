/*
 * Native DNS message walk: the names and the record layout of one message,
 * read the way protocols/dns.py reads them.
 *
 * A capture of lookups is nothing but small DNS messages, and reading their
 * names label by label in Python cost about a quarter of analysing one. This
 * module does that walk and nothing else: parse() gives the header fields, the
 * questions as (name, qtype) and the answer records as (name, rtype, start,
 * end) offsets of their RDATA, which dns.py turns into text as before;
 * read_name() reads one name at an offset. The rules are dns.py's, which stays
 * the reference (and the path taken without a compiler):
 *
 *   - a compression pointer must point below the lowest offset reached so far
 *     in this name, and at most 32 are followed, so every name terminates;
 *   - a name is at most 255 bytes as counted on the wire;
 *   - a label byte that is printable ASCII is lower-cased; "." and "\" are
 *     escaped with a backslash, any other byte written as \DDD (as dig prints);
 *   - an unreadable question makes the whole message unreadable (None); an
 *     unreadable answer ends the answers.
 *
 * It never reads outside the buffer and never raises for any input bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define HEADER_LEN 12
#define MAX_NAME_WIRE_LEN 255
#define MAX_POINTER_JUMPS 32
/* 255 wire bytes, each shown as at most 4 characters, plus the dots. */
#define MAX_TEXT (MAX_NAME_WIRE_LEN * 4 + MAX_NAME_WIRE_LEN)

enum { NAME_OK = 0, NAME_MALFORMED = 1, NAME_ERROR = -1 };

/* Read the name at pos; on NAME_OK *text is a new reference and *after the
   offset following the name where it was (not where its pointers led). */
static int read_name(const unsigned char *d, Py_ssize_t n, Py_ssize_t pos, PyObject **text,
                     Py_ssize_t *after)
{
    char out[MAX_TEXT + 1];
    Py_ssize_t len = 0;
    Py_ssize_t end = -1;
    Py_ssize_t floor = pos;
    int jumps = 0;
    int wire_len = 1;
    int labels = 0;

    for (;;) {
        if (pos >= n)
            return NAME_MALFORMED;
        unsigned int length = d[pos];
        unsigned int kind = length & 0xC0;
        if (kind == 0xC0) {
            if (pos + 1 >= n)
                return NAME_MALFORMED;
            Py_ssize_t target = (Py_ssize_t)(((length & 0x3F) << 8) | d[pos + 1]);
            if (end < 0)
                end = pos + 2;
            jumps++;
            if (target >= floor || jumps > MAX_POINTER_JUMPS)
                return NAME_MALFORMED;
            floor = target;
            pos = target;
            continue;
        }
        if (kind)
            return NAME_MALFORMED;
        if (length == 0) {
            *text = PyUnicode_DecodeASCII(out, len, NULL);
            if (*text == NULL)
                return NAME_ERROR;
            *after = end >= 0 ? end : pos + 1;
            return NAME_OK;
        }
        wire_len += (int)length + 1;
        if (wire_len > MAX_NAME_WIRE_LEN || pos + 1 + (Py_ssize_t)length > n)
            return NAME_MALFORMED;
        if (labels++)
            out[len++] = '.';
        for (Py_ssize_t i = pos + 1; i < pos + 1 + (Py_ssize_t)length; i++) {
            unsigned char b = d[i];
            if (b == '.' || b == '\\') {
                out[len++] = '\\';
                out[len++] = (char)b;
            } else if (b >= 0x21 && b <= 0x7E) {
                out[len++] = (char)(b >= 'A' && b <= 'Z' ? b + 32 : b);
            } else {
                out[len++] = '\\';
                out[len++] = (char)('0' + b / 100);
                out[len++] = (char)('0' + b / 10 % 10);
                out[len++] = (char)('0' + b % 10);
            }
        }
        pos += 1 + (Py_ssize_t)length;
    }
}

static inline unsigned int read16(const unsigned char *p)
{
    return ((unsigned int)p[0] << 8) | p[1];
}

/* Append a new tuple to list, stealing the reference; -1 on error. */
static int append_new(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *dns_parse(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len;
    PyObject *questions = NULL, *answers = NULL, *result = NULL;
    if (n < HEADER_LEN) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    unsigned int ident = read16(d), flags = read16(d + 2);
    unsigned int qdcount = read16(d + 4), ancount = read16(d + 6);
    questions = PyList_New(0);
    answers = PyList_New(0);
    if (questions == NULL || answers == NULL)
        goto done;
    Py_ssize_t pos = HEADER_LEN;
    for (unsigned int i = 0; i < qdcount; i++) {
        PyObject *name;
        int rc = read_name(d, n, pos, &name, &pos);
        if (rc == NAME_ERROR)
            goto done;
        if (rc == NAME_MALFORMED || pos + 4 > n) {
            if (rc == NAME_OK)
                Py_DECREF(name);
            result = Py_NewRef(Py_None);
            goto done;
        }
        unsigned int qtype = read16(d + pos);
        pos += 4;
        if (append_new(questions, Py_BuildValue("(NI)", name, qtype)) < 0)
            goto done;
    }
    for (unsigned int i = 0; i < ancount; i++) {
        PyObject *name;
        int rc = read_name(d, n, pos, &name, &pos);
        if (rc == NAME_ERROR)
            goto done;
        if (rc == NAME_MALFORMED)
            break;
        if (pos + 10 > n) {
            Py_DECREF(name);
            break;
        }
        unsigned int rtype = read16(d + pos);
        Py_ssize_t start = pos + 10;
        Py_ssize_t end = start + (Py_ssize_t)read16(d + pos + 8);
        if (end > n) {
            Py_DECREF(name);
            break;
        }
        if (append_new(answers, Py_BuildValue("(NInn)", name, rtype, start, end)) < 0)
            goto done;
        pos = end;
    }
    result = Py_BuildValue("(IIOO)", ident, flags, questions, answers);
done:
    Py_XDECREF(questions);
    Py_XDECREF(answers);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *dns_read_name(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos;
    if (!PyArg_ParseTuple(args, "y*n:read_name", &view, &pos))
        return NULL;
    PyObject *text = NULL, *result = NULL;
    Py_ssize_t after = 0;
    int rc = pos < 0 ? NAME_MALFORMED
                     : read_name((const unsigned char *)view.buf, view.len, pos, &text, &after);
    if (rc == NAME_OK)
        result = Py_BuildValue("(Nn)", text, after);
    else if (rc == NAME_MALFORMED)
        result = Py_NewRef(Py_None);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", dns_parse, METH_O,
     "parse(data) -> None | (id, flags, [(qname, qtype)], [(name, rtype, start, end)])"},
    {"read_name", dns_read_name, METH_VARARGS,
     "read_name(data, pos) -> None | (name, offset after it)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_dns", "Native DNS message walk (see protocols/dns.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__dns(void)
{
    return PyModule_Create(&module);
}
