/* The HTML walk of classifier.html in compiled code: lines and their contexts.
 *
 * classifier.html._lines and ._contexts describe what is computed; this does
 * the same while libxml2's HTML parser reads the page, from its SAX events,
 * without building the tree lxml would build. Building and freeing that tree
 * is about half of what parsing costs, and the walk needs only what lies on
 * the path from the root to where the parser is: the open elements, with the
 * few attributes a context reads (class, id, style, hidden, aria-hidden).
 * Per element it does a pointer lookup of what its tag does; per line, one
 * str; per element a line ends in (or an ancestor of one), its context, once.
 *
 * The parser is lxml's own libxml2, found in the lxml.etree module already
 * loaded, and it runs with the options classifier.html gives lxml's parser,
 * so it reads a page as lxml does: the SAX events are the ones lxml's tree
 * is built from. tests/test_html.py holds the two to the same lines.
 *
 * What the tags mean stays in Python: the walk asks `facts(tag)` once per tag
 * name and page, and `tokens(class, id)` and `hidden_style(style)` for the
 * attributes of context elements, so the tag lists and rules have one home
 * (classifier/html.py). The one exception is tokens() of ASCII values, which
 * the walk splits itself (ascii_tokens): pages hold a hundred or more
 * distinct class lists, and the tests hold it to tokens().
 *
 * Text follows lxml's reading of it: an element's .text is the text before
 * its first child element, its .tail the text after it, and each is one piece
 * however many chunks the parser hands over. White space is what str.split()
 * and str.strip() take for it (Py_UNICODE_ISSPACE).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <libxml/HTMLparser.h>
#include <libxml/encoding.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>
#include "lxml-version.h"

/* classifier.html's action bits (_SKIP, _BREAK_BEFORE, _BREAK_AFTER, _LINK). */
#define SKIP 1
#define BREAK_BEFORE 2
#define BREAK_AFTER 4
#define LINK 8

/* lxml.etree's parser options in classifier.html (_PARSER_OPTIONS): recover,
 * no_network, compact, default_doctype=False, huge_tree. Comments and
 * processing instructions are dropped by giving them no handler, as lxml's
 * remove_comments and remove_pis do. */
#define PARSE_OPTIONS (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_COMPACT \
                       | HTML_PARSE_NODEFDTD | HTML_PARSE_HUGE)

/* The libxml2 functions used, from the copy lxml.etree carries. */
static struct {
    htmlParserCtxtPtr (*new_ctxt)(const htmlSAXHandler *, void *);
    htmlDocPtr (*read_memory)(htmlParserCtxtPtr, const char *, int, const char *, const char *, int);
    void (*free_ctxt)(htmlParserCtxtPtr);
    void (*set_error_handler)(xmlParserCtxtPtr, xmlStructuredErrorFunc, void *);
    void (*stop)(xmlParserCtxtPtr);
    xmlCharEncoding (*detect_encoding)(const unsigned char *, int);
    void (*free_doc)(xmlDocPtr);
} xml;

/* ------------------------------------------------------------ growable buffers */

typedef struct {
    unsigned char *data;
    size_t len, cap;
} Bytes;

static int bytes_reserve(Bytes *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        if (cap > ((size_t)PY_SSIZE_T_MAX) / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    unsigned char *data = PyMem_Realloc(b->data, cap);
    if (!data) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

typedef struct {
    Py_ssize_t *data;
    Py_ssize_t len, cap;
} Ints;

/* Room for one more item in an array of `*cap` items of `size` bytes, `used`
 * of them in use: doubles it when full (from `first`). */
static int grow(void **data, Py_ssize_t used, Py_ssize_t *cap, size_t size, Py_ssize_t first) {
    if (used < *cap) return 0;
    Py_ssize_t more = *cap ? 2 * *cap : first;
    if ((size_t)more > PY_SSIZE_T_MAX / size) {
        PyErr_NoMemory();
        return -1;
    }
    void *grown = PyMem_Realloc(*data, (size_t)more * size);
    if (!grown) {
        PyErr_NoMemory();
        return -1;
    }
    *data = grown;
    *cap = more;
    return 0;
}

static int ints_append(Ints *a, Py_ssize_t value) {
    if (grow((void **)&a->data, a->len, &a->cap, sizeof(Py_ssize_t), 64) < 0) return -1;
    a->data[a->len++] = value;
    return 0;
}

static PyObject *ints_to_list(const Ints *a) {
    PyObject *list = PyList_New(a->len);
    if (!list) return NULL;
    for (Py_ssize_t i = 0; i < a->len; i++) {
        PyObject *v = PyLong_FromSsize_t(a->data[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

/* ------------------------------------------------ pointer-keyed hash tables */

/* Open addressing from a pointer (or a pair of them) to an index; grows at
 * half full. Used for tag names (libxml2 keeps one copy of each name per
 * document, so a name's pointer identifies it) and for context elements. */
typedef struct {
    const void **a, **b;
    Py_ssize_t *value;
    size_t cap, used;
} Table;

static size_t hash_pair(const void *a, const void *b) {
    uintptr_t h = (uintptr_t)a * (uintptr_t)0x9E3779B97F4A7C15ull;
    h ^= (uintptr_t)b * (uintptr_t)0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static void table_free(Table *t) {
    PyMem_Free(t->a);
    PyMem_Free(t->b);
    PyMem_Free(t->value);
    memset(t, 0, sizeof(*t));
}

static int table_init(Table *t, size_t cap) {
    t->cap = cap;
    t->used = 0;
    t->a = PyMem_Calloc(cap, sizeof(void *));
    t->b = PyMem_Calloc(cap, sizeof(void *));
    t->value = PyMem_Calloc(cap, sizeof(Py_ssize_t));
    if (!t->a || !t->b || !t->value) {
        table_free(t);
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The slot of (a, b), or of the empty slot where it would go; a is never NULL. */
static size_t table_slot(const Table *t, const void *a, const void *b) {
    size_t i = hash_pair(a, b) & (t->cap - 1);
    while (t->a[i] && (t->a[i] != a || t->b[i] != b)) i = (i + 1) & (t->cap - 1);
    return i;
}

static int table_get(const Table *t, const void *a, const void *b, Py_ssize_t *value) {
    size_t i = table_slot(t, a, b);
    if (!t->a[i]) return 0;
    *value = t->value[i];
    return 1;
}

static int table_put(Table *t, const void *a, const void *b, Py_ssize_t value) {
    if (2 * (t->used + 1) > t->cap) {
        Table bigger;
        if (table_init(&bigger, 2 * t->cap) < 0) return -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->a[i]) {
                size_t j = table_slot(&bigger, t->a[i], t->b[i]);
                bigger.a[j] = t->a[i];
                bigger.b[j] = t->b[i];
                bigger.value[j] = t->value[i];
            }
        bigger.used = t->used;
        table_free(t);
        *t = bigger;
    }
    size_t i = table_slot(t, a, b);
    if (!t->a[i]) t->used++;
    t->a[i] = a;
    t->b[i] = b;
    t->value[i] = value;
    return 0;
}

/* ------------------------------------------------------------ UTF-8 and space */

/* The code point at s[*i] (s holds n bytes), stepping past it. A malformed
 * sequence reads as one non-space character; the final decode to str then
 * raises, as lxml's would. */
static Py_UCS4 next_char(const unsigned char *s, size_t n, size_t *i) {
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    size_t extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (!extra || *i + extra >= n) {
        (*i)++;
        return 0xFFFD;
    }
    Py_UCS4 ch = c & (0x3F >> extra);
    for (size_t k = 1; k <= extra; k++) {
        unsigned char d = s[*i + k];
        if ((d & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        ch = (ch << 6) | (d & 0x3F);
    }
    *i += extra + 1;
    return ch;
}

static int is_space(Py_UCS4 ch) {
    return Py_UNICODE_ISSPACE(ch);
}

/* Whether s (n bytes) is all white space; "" is not, as str.isspace says. */
static int all_space(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n)
        if (!is_space(next_char(s, n, &i))) return 0;
    return n > 0;
}

/* len(s.strip()) in characters. */
static Py_ssize_t stripped_length(const unsigned char *s, size_t n) {
    Py_ssize_t count = 0, first = -1, last = -1;
    size_t i = 0;
    while (i < n) {
        if (!is_space(next_char(s, n, &i))) {
            if (first < 0) first = count;
            last = count;
        }
        count++;
    }
    return first < 0 ? 0 : last - first + 1;
}

/* " ".join(s.split()) as a str. */
static PyObject *collapsed(const unsigned char *s, size_t n, Bytes *out) {
    out->len = 0;
    if (bytes_reserve(out, n) < 0) return NULL;
    int gap = 0;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        if (is_space(next_char(s, n, &i))) {
            gap = 1;
            continue;
        }
        if (gap && out->len) out->data[out->len++] = ' ';
        gap = 0;
        memcpy(out->data + out->len, s + start, i - start);
        out->len += i - start;
    }
    return PyUnicode_DecodeUTF8((const char *)out->data, (Py_ssize_t)out->len, NULL);
}

/* ------------------------------------------------------------------ the walk */

/* What Python's facts(tag) said about a tag name. */
typedef struct {
    int action;
    int is_block;
    int regions;      /* region bits the element adds */
    int hides;        /* the element hides its content (<noscript>) */
    PyObject *name;   /* the tag as paths record it */
    PyObject *spaced; /* " " + name, to extend a path */
} Facts;

/* An attribute a context reads, as a span of Walk.attrs (at < 0: absent). */
typedef struct {
    Py_ssize_t at;
    size_t len;
} Span;

/* An open element: the parser is inside it. */
typedef struct {
    Py_ssize_t facts;       /* index in Walk.facts */
    Py_ssize_t context;     /* its context's number, or -1 until a line needs it */
    size_t attrs_mark;      /* Walk.attrs.len before its attributes */
    Span class_value, id_value, style, aria_hidden;
    int hidden;             /* it has a hidden attribute */
} Open;

typedef struct {
    PyObject *facts_fn, *tokens_fn, *hidden_style_fn;
    long hidden_bit;
    Py_ssize_t max_tokens;  /* class/id tokens kept per element */
    int max_depth;          /* elements nested past this stop the parse (too_deep) */
    htmlParserCtxtPtr ctxt;
    int failed;             /* a Python exception is set; the parser was stopped */
    int too_deep;
    int finished;           /* the root element was closed */
    int skipping;           /* depth inside an element whose content is not read */
    Table names;            /* name -> index in facts */
    Facts *facts;
    Py_ssize_t n_facts, cap_facts;
    Open *open;
    Py_ssize_t n_open, cap_open;
    Bytes attrs;            /* the open elements' attribute values, in a stack */
    Bytes line, run, scratch;
    Py_ssize_t link_chars;
    int link_depth;
    PyObject *texts;        /* per line */
    Ints link_counts, line_elements;
    /* Contexts, by element number; 0 stands for outside the root. */
    PyObject *tags, *paths, *tokens;
    Ints regions, depths, parents;
    PyObject *page_tokens;  /* (class, id) -> tokens, as pages repeat their classes */
} Walk;

/* Each line's link density, as classifier.html._link_density gives it: its
 * link characters over its length (at least 1), at most 1. */
static PyObject *link_densities(const Walk *w) {
    PyObject *list = PyList_New(w->link_counts.len);
    if (!list) return NULL;
    for (Py_ssize_t i = 0; i < w->link_counts.len; i++) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(PyList_GET_ITEM(w->texts, i));
        double density = (double)w->link_counts.data[i] / (double)(length > 1 ? length : 1);
        PyObject *v = PyFloat_FromDouble(density < 1.0 ? density : 1.0);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static void walk_free(Walk *w) {
    table_free(&w->names);
    for (Py_ssize_t i = 0; i < w->n_facts; i++) {
        Py_XDECREF(w->facts[i].name);
        Py_XDECREF(w->facts[i].spaced);
    }
    PyMem_Free(w->facts);
    PyMem_Free(w->open);
    PyMem_Free(w->attrs.data);
    PyMem_Free(w->line.data);
    PyMem_Free(w->run.data);
    PyMem_Free(w->scratch.data);
    Py_XDECREF(w->texts);
    PyMem_Free(w->link_counts.data);
    PyMem_Free(w->line_elements.data);
    Py_XDECREF(w->tags);
    Py_XDECREF(w->paths);
    Py_XDECREF(w->tokens);
    PyMem_Free(w->regions.data);
    PyMem_Free(w->depths.data);
    PyMem_Free(w->parents.data);
    Py_XDECREF(w->page_tokens);
}

/* A Python exception is set: stop reading the page. */
static void fail(Walk *w) {
    if (!w->failed) {
        w->failed = 1;
        xml.stop(w->ctxt);
    }
}

/* The index in w->facts of what facts(name) says; -1 on error. The parser
 * keeps one copy of each tag name it reads (its dictionary), so a name's
 * pointer identifies it. */
static Py_ssize_t facts_of(Walk *w, const xmlChar *name) {
    Py_ssize_t index;
    if (table_get(&w->names, name, NULL, &index)) return index;
    PyObject *tag = PyUnicode_DecodeUTF8((const char *)name, (Py_ssize_t)strlen((const char *)name), NULL);
    if (!tag) return -1;
    PyObject *answer = PyObject_CallOneArg(w->facts_fn, tag);
    Py_DECREF(tag);
    if (!answer) return -1;
    Facts f = {0};
    PyObject *path_name;
    int ok = PyArg_ParseTuple(answer, "iUppi;facts(tag) must give (action, name, is_block, hides, regions)",
                              &f.action, &path_name, &f.is_block, &f.hides, &f.regions);
    if (ok) {
        f.name = Py_NewRef(path_name);
        f.spaced = PyUnicode_FromFormat(" %U", path_name);
    }
    Py_DECREF(answer);
    if (!ok || !f.spaced) {
        Py_XDECREF(f.name);
        return -1;
    }
    if (grow((void **)&w->facts, w->n_facts, &w->cap_facts, sizeof(Facts), 32) < 0) {
        Py_DECREF(f.name);
        Py_DECREF(f.spaced);
        return -1;
    }
    index = w->n_facts++;
    w->facts[index] = f;
    if (table_put(&w->names, name, NULL, index) < 0) return -1;
    return index;
}

/* tokens(class, id) for ASCII values (nearly all), without the call: lower-
 * cased, "_" and "-" read as spaces, split at white space as str.split()
 * does (in ASCII: \t-\r, \x1c-\x1f and space), the first max_tokens
 * joined by single spaces. NULL with no exception for values it leaves to
 * tokens(). */
static PyObject *ascii_tokens(PyObject *class_value, PyObject *id_value, Py_ssize_t max_tokens) {
    PyObject *values[2] = {class_value, id_value};
    Py_ssize_t size = 0;
    for (int k = 0; k < 2; k++) {
        if (values[k] == Py_None) continue;
        if (!PyUnicode_IS_ASCII(values[k])) return NULL;
        size += PyUnicode_GET_LENGTH(values[k]);
    }
    char *out = PyMem_Malloc(size + 2);
    if (!out) return PyErr_NoMemory();
    Py_ssize_t used = 0, count = 0;
    for (int k = 0; k < 2 && count <= max_tokens; k++) {
        if (values[k] == Py_None) continue;
        const char *in = (const char *)PyUnicode_1BYTE_DATA(values[k]);
        Py_ssize_t n = PyUnicode_GET_LENGTH(values[k]);
        int in_token = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            char c = in[i];
            if ((c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x20) || c == '_' || c == '-') {
                in_token = 0;
                continue;
            }
            if (!in_token) {
                in_token = 1;
                if (++count > max_tokens) break;
                if (used) out[used++] = ' ';
            }
            out[used++] = c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
        }
    }
    PyObject *tokens = PyUnicode_FromStringAndSize(out, used);
    PyMem_Free(out);
    return tokens;
}


/* An attribute of an open element as a str, or None when it has none. */
static PyObject *span_str(const Walk *w, Span span) {
    if (span.at < 0) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8((const char *)w->attrs.data + span.at, (Py_ssize_t)span.len, NULL);
}

/* The class/id tokens an open element adds. */
static PyObject *own_tokens(Walk *w, const Open *e) {
    if (e->class_value.at < 0 && e->id_value.at < 0) return PyUnicode_FromStringAndSize(NULL, 0);
    PyObject *class_value = span_str(w, e->class_value);
    if (!class_value) return NULL;
    PyObject *id_value = span_str(w, e->id_value);
    if (!id_value) {
        Py_DECREF(class_value);
        return NULL;
    }
    PyObject *key = PyTuple_Pack(2, class_value, id_value);
    PyObject *own = NULL;
    if (key) {
        own = PyDict_GetItemWithError(w->page_tokens, key);
        if (own) {
            Py_INCREF(own);
        } else if (!PyErr_Occurred()) {
            own = ascii_tokens(class_value, id_value, w->max_tokens);
            if (!own && !PyErr_Occurred())
                own = PyObject_CallFunctionObjArgs(w->tokens_fn, class_value, id_value, NULL);
            if (own && (!PyUnicode_Check(own) || PyDict_SetItem(w->page_tokens, key, own) < 0)) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "tokens() must give a str");
                Py_CLEAR(own);
            }
        }
        Py_DECREF(key);
    }
    Py_DECREF(class_value);
    Py_DECREF(id_value);
    return own;
}

/* Whether an open element hides its content: hidden, aria-hidden="true", or
 * a style that hides it (hidden_style decides). -1 on error. */
static int hides(Walk *w, const Open *e) {
    if (e->hidden) return 1;
    if (e->aria_hidden.at >= 0 && e->aria_hidden.len == 4
        && memcmp(w->attrs.data + e->aria_hidden.at, "true", 4) == 0)
        return 1;
    if (e->style.at < 0) return 0;
    PyObject *style = span_str(w, e->style);
    if (!style) return -1;
    PyObject *answer = PyObject_CallOneArg(w->hidden_style_fn, style);
    Py_DECREF(style);
    if (!answer) return -1;
    int hidden = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    return hidden;
}

/* The context of open element e whose parent has context `parent`. */
static Py_ssize_t new_context(Walk *w, const Open *e, Py_ssize_t parent) {
    const Facts *f = &w->facts[e->facts];
    PyObject *parent_path = PyList_GET_ITEM(w->paths, parent);
    PyObject *parent_tokens = PyList_GET_ITEM(w->tokens, parent);
    PyObject *tag = f->is_block ? f->name : PyList_GET_ITEM(w->tags, parent);
    PyObject *path = PyUnicode_GET_LENGTH(parent_path)
        ? PyUnicode_Concat(parent_path, f->spaced) : Py_NewRef(f->name);
    if (!path) return -1;
    PyObject *tokens = NULL;
    PyObject *own = own_tokens(w, e);
    if (own) {
        if (!PyUnicode_GET_LENGTH(own)) tokens = Py_NewRef(parent_tokens);
        else if (!PyUnicode_GET_LENGTH(parent_tokens)) tokens = Py_NewRef(own);
        else {
            PyObject *spaced = PyUnicode_FromFormat(" %U", own);
            tokens = spaced ? PyUnicode_Concat(parent_tokens, spaced) : NULL;
            Py_XDECREF(spaced);
        }
        Py_DECREF(own);
    }
    long regions = w->regions.data[parent] | f->regions;
    if (tokens && !(regions & w->hidden_bit)) {
        int hidden = f->hides ? 1 : hides(w, e);
        if (hidden < 0) Py_CLEAR(tokens);
        else if (hidden) regions |= w->hidden_bit;
    }
    Py_ssize_t number = PyList_GET_SIZE(w->tags);
    int failed = !tokens || PyList_Append(w->tags, tag) < 0 || PyList_Append(w->paths, path) < 0
        || PyList_Append(w->tokens, tokens) < 0 || ints_append(&w->regions, regions) < 0
        || ints_append(&w->depths, w->depths.data[parent] + 1) < 0
        || ints_append(&w->parents, parent) < 0;
    Py_DECREF(path);
    Py_XDECREF(tokens);
    return failed ? -1 : number;
}

/* The number of the context of the open element at `level` (-1: outside the
 * root), making it and its ancestors' first. */
static Py_ssize_t context_at(Walk *w, Py_ssize_t level) {
    if (level < 0) return 0;
    if (w->open[level].context >= 0) return w->open[level].context;
    Py_ssize_t known = level;
    while (known >= 0 && w->open[known].context < 0) known--;
    Py_ssize_t number = known >= 0 ? w->open[known].context : 0;
    for (Py_ssize_t i = known + 1; i <= level; i++) {
        number = new_context(w, &w->open[i], number);
        if (number < 0) return -1;
        w->open[i].context = number;
    }
    return number;
}

/* A line ends in the open element at `level` (-1: outside the root). */
static int end_line(Walk *w, Py_ssize_t level) {
    Py_ssize_t context = context_at(w, level);
    if (context < 0) return -1;
    PyObject *text = collapsed(w->line.data, w->line.len, &w->scratch);
    if (!text) return -1;
    int failed = PyList_Append(w->texts, text);
    Py_DECREF(text);
    if (failed || ints_append(&w->link_counts, w->link_chars) < 0
        || ints_append(&w->line_elements, context) < 0)
        return -1;
    w->line.len = 0;
    w->link_chars = 0;
    return 0;
}

/* The text read since the last tag, as one piece: a line is under way only
 * once it has something other than white space. */
static int end_run(Walk *w) {
    const unsigned char *s = w->run.data;
    size_t n = w->run.len;
    w->run.len = 0;
    if (n && (w->line.len || !all_space(s, n))) {
        if (bytes_reserve(&w->line, n) < 0) return -1;
        memcpy(w->line.data + w->line.len, s, n);
        w->line.len += n;
        if (w->link_depth) w->link_chars += stripped_length(s, n);
    }
    return 0;
}

/* Copies an attribute's value onto the stack of attribute values. */
static int keep_value(Walk *w, const xmlChar *value, Span *span) {
    size_t n = value ? strlen((const char *)value) : 0;   /* no value: "" */
    if (bytes_reserve(&w->attrs, n) < 0) return -1;
    span->at = (Py_ssize_t)w->attrs.len;
    span->len = n;
    if (n) memcpy(w->attrs.data + w->attrs.len, value, n);
    w->attrs.len += n;
    return 0;
}

static int push(Walk *w, Py_ssize_t facts, const xmlChar **atts) {
    if (grow((void **)&w->open, w->n_open, &w->cap_open, sizeof(Open), 64) < 0) return -1;
    Open *e = &w->open[w->n_open];
    *e = (Open){.facts = facts, .context = -1, .attrs_mark = w->attrs.len,
                .class_value = {-1, 0}, .id_value = {-1, 0}, .style = {-1, 0},
                .aria_hidden = {-1, 0}};
    /* The parser passes each attribute once (it drops repeats, as the tree
     * keeps the first), as name/value pairs; lxml's get() sees the same. */
    for (const xmlChar **a = atts; a && a[0]; a += 2) {
        const char *name = (const char *)a[0];
        Span *span = NULL;
        switch (name[0]) {
        case 'c': if (strcmp(name, "class") == 0) span = &e->class_value; break;
        case 'i': if (strcmp(name, "id") == 0) span = &e->id_value; break;
        case 's': if (strcmp(name, "style") == 0) span = &e->style; break;
        case 'a': if (strcmp(name, "aria-hidden") == 0) span = &e->aria_hidden; break;
        case 'h': if (strcmp(name, "hidden") == 0) e->hidden = 1; break;
        }
        if (span && span->at < 0 && keep_value(w, a[1], span) < 0) return -1;
    }
    w->n_open++;
    return 0;
}

/* ------------------------------------------------------------- SAX handlers */

static void on_start(void *data, const xmlChar *name, const xmlChar **atts) {
    Walk *w = data;
    if (w->failed || w->finished) return;   /* after the root: not part of the page lxml gives */
    if (w->skipping) {
        w->skipping++;
        return;
    }
    if (w->n_open >= w->max_depth) {
        w->too_deep = 1;
        xml.stop(w->ctxt);
        return;
    }
    Py_ssize_t index = facts_of(w, name);
    if (index < 0 || end_run(w) < 0) {
        fail(w);
        return;
    }
    int action = w->facts[index].action;
    if (action & SKIP) {
        w->skipping = 1;
        return;
    }
    if ((action & BREAK_BEFORE) && w->line.len && end_line(w, w->n_open - 1) < 0) {
        fail(w);
        return;
    }
    if (action & LINK) w->link_depth++;
    if (push(w, index, atts) < 0) fail(w);
}

static void on_end(void *data, const xmlChar *name) {
    Walk *w = data;
    (void)name;   /* the parser closes elements in the order it opened them */
    if (w->failed || w->finished) return;
    if (w->skipping) {
        w->skipping--;
        return;
    }
    if (!w->n_open) return;
    if (end_run(w) < 0) {
        fail(w);
        return;
    }
    Open *e = &w->open[w->n_open - 1];
    int action = w->facts[e->facts].action;
    if ((action & BREAK_AFTER) && w->line.len && end_line(w, w->n_open - 1) < 0) {
        fail(w);
        return;
    }
    if (action & LINK) w->link_depth--;
    w->attrs.len = e->attrs_mark;
    if (--w->n_open == 0) w->finished = 1;
}

static void on_text(void *data, const xmlChar *text, int len) {
    Walk *w = data;
    /* Text outside every element is not in lxml's tree. */
    if (w->failed || w->finished || w->skipping || !w->n_open || len <= 0) return;
    if (bytes_reserve(&w->run, (size_t)len) < 0) {
        fail(w);
        return;
    }
    memcpy(w->run.data + w->run.len, text, (size_t)len);
    w->run.len += (size_t)len;
}

static void on_error(void *data, const xmlError *error) {
    Walk *w = data;
    /* libxml2 stops at its nesting limit; what it read is only part of the page. */
    if (error && error->code == XML_ERR_RESOURCE_LIMIT) w->too_deep = 1;
}

/* The encoding to read `data` in when the caller gives none: libxml2 finds
 * it (byte order mark, <meta charset>), except UTF-32, whose marks it does
 * not read; lxml names it, and skips a UTF-32 mark. */
static const char *detected_encoding(const unsigned char **data, Py_ssize_t *len) {
    const unsigned char *s = *data;
    if (*len >= 4 && s[0] == 0xFF && s[1] == 0xFE && s[2] == 0 && s[3] == 0) {
        *data += 4;
        *len -= 4;
        return "UTF-32LE";
    }
    if (*len >= 4 && s[0] == 0 && s[1] == 0 && s[2] == 0xFE && s[3] == 0xFF) {
        *data += 4;
        *len -= 4;
        return "UTF-32BE";
    }
    xmlCharEncoding found = xml.detect_encoding(s, (int)(*len < 4 ? *len : 4));
    if (found == XML_CHAR_ENCODING_UCS4LE) return "UTF-32LE";
    if (found == XML_CHAR_ENCODING_UCS4BE) return "UTF-32BE";
    return NULL;
}

static PyObject *read_page(PyObject *self, PyObject *args) {
    Py_buffer page;
    const char *encoding;
    PyObject *top_tag, *result = NULL;
    PyObject *links = NULL, *elements = NULL, *regions = NULL, *depths = NULL, *parents = NULL;
    Walk w = {0};
    if (!PyArg_ParseTuple(args, "y*zOOOUlni:read_page", &page, &encoding, &w.facts_fn,
                          &w.tokens_fn, &w.hidden_style_fn, &top_tag, &w.hidden_bit,
                          &w.max_tokens, &w.max_depth))
        return NULL;
    if (w.max_tokens < 0 || w.max_depth < 1) {
        PyErr_SetString(PyExc_ValueError, "read_page() needs max_tokens >= 0 and max_depth >= 1");
        goto done;
    }
    if (page.len > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "read_page() reads pages of at most 2 GB");
        goto done;
    }
    if (table_init(&w.names, 64) < 0) goto done;
    w.texts = PyList_New(0);
    w.page_tokens = PyDict_New();
    w.tags = Py_BuildValue("[O]", top_tag);
    w.paths = Py_BuildValue("[s]", "");
    w.tokens = Py_BuildValue("[s]", "");
    if (!w.texts || !w.page_tokens || !w.tags || !w.paths || !w.tokens
        || ints_append(&w.regions, 0) < 0 || ints_append(&w.depths, 0) < 0
        || ints_append(&w.parents, -1) < 0)
        goto done;

    htmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElement = on_start;
    sax.endElement = on_end;
    sax.characters = on_text;
    sax.ignorableWhitespace = on_text;   /* lxml keeps blank text (no remove_blank_text) */
    w.ctxt = xml.new_ctxt(&sax, &w);
    if (!w.ctxt) {
        PyErr_NoMemory();
        goto done;
    }
    xml.set_error_handler(w.ctxt, on_error, &w);
    const unsigned char *data = page.buf;
    Py_ssize_t len = page.len;
    if (!encoding) encoding = detected_encoding(&data, &len);
    xmlDocPtr doc = xml.read_memory(w.ctxt, (const char *)data, (int)len, NULL, encoding, PARSE_OPTIONS);
    if (doc) xml.free_doc(doc);   /* none is built without the tree handlers; in case */
    xml.free_ctxt(w.ctxt);
    if (w.failed) goto done;
    if (w.too_deep) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (end_run(&w) < 0) goto done;
    if (w.line.len && end_line(&w, -1) < 0) goto done;

    links = link_densities(&w);
    elements = ints_to_list(&w.line_elements);
    regions = ints_to_list(&w.regions);
    depths = ints_to_list(&w.depths);
    parents = ints_to_list(&w.parents);
    if (links && elements && regions && depths && parents)
        result = PyTuple_Pack(9, w.texts, links, elements, w.tags, w.paths, w.tokens,
                              regions, depths, parents);
done:
    Py_XDECREF(links);
    Py_XDECREF(elements);
    Py_XDECREF(regions);
    Py_XDECREF(depths);
    Py_XDECREF(parents);
    walk_free(&w);
    PyBuffer_Release(&page);
    return result;
}

static PyMethodDef methods[] = {
    {"read_page", read_page, METH_VARARGS,
     "read_page(page, encoding, facts, tokens, hidden_style, top_tag, hidden_bit, max_tokens, "
     "max_depth) -> (texts, link_density, elements, tags, paths, tokens, regions, depths, "
     "parents), or None when the page nests elements deeper than max_depth: the lines of an "
     "HTML page (bytes; encoding None to detect it) and their contexts, as lxml's parser "
     "reads the page; classifier.html describes each part."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "classifier._walk",
    "classifier.html's walk over an HTML page, in compiled code.", -1, methods,
};

/* libxml2's functions from lxml.etree, which holds libxml2 (its wheels link
 * it in) or links to it: either way its loaded image resolves them. */
static int find_libxml2(void) {
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (!etree) return -1;
    PyObject *file = PyObject_GetAttrString(etree, "__file__");
    Py_DECREF(etree);
    if (!file) return -1;
    const char *path = PyUnicode_AsUTF8(file);
    void *image = path ? dlopen(path, RTLD_LAZY | RTLD_NOLOAD) : NULL;
    if (!image) {
        if (path) PyErr_Format(PyExc_ImportError, "cannot open lxml.etree's image: %s", dlerror());
        Py_DECREF(file);
        return -1;
    }
    Py_DECREF(file);
    struct { void **slot; const char *name; } wanted[] = {
        {(void **)&xml.new_ctxt, "htmlNewSAXParserCtxt"},
        {(void **)&xml.read_memory, "htmlCtxtReadMemory"},
        {(void **)&xml.free_ctxt, "htmlFreeParserCtxt"},
        {(void **)&xml.set_error_handler, "xmlCtxtSetErrorHandler"},
        {(void **)&xml.stop, "xmlStopParser"},
        {(void **)&xml.detect_encoding, "xmlDetectCharEncoding"},
        {(void **)&xml.free_doc, "xmlFreeDoc"},
    };
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        *wanted[i].slot = dlsym(image, wanted[i].name);
        if (!*wanted[i].slot) {
            PyErr_Format(PyExc_ImportError, "lxml's libxml2 has no %s", wanted[i].name);
            return -1;   /* the image stays open: lxml.etree holds it anyway */
        }
    }
    return 0;
}

PyMODINIT_FUNC PyInit__walk(void) {
    if (find_libxml2() < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddStringConstant(m, "LXML_VERSION", LXML_VERSION_STRING) < 0
              || PyModule_AddIntConstant(m, "LIBXML_VERSION", LIBXML_VERSION) < 0))
        Py_CLEAR(m);
    return m;
}
