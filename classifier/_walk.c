/* The HTML walk of classifier.html in compiled code: lines and their contexts.
 *
 * classifier.html._lines and ._contexts describe what is computed; this does
 * the same on libxml2's tree under an lxml element, without making a Python
 * object for every element the walk meets. Per element it does a pointer
 * lookup of what its tag does; per line, one str; per element a line ends in
 * (or an ancestor of one), its context, once.
 *
 * What the tags mean stays in Python: the walk asks `facts(tag)` once per tag
 * name and page, and `tokens(class, id)` and `hidden_style(style)` for the
 * attributes it meets on context elements, so the tag lists and rules have
 * one home (classifier/html.py). The one exception is tokens() of ASCII
 * values, which the walk splits itself (ascii_tokens): pages hold a hundred
 * or more distinct class lists, and the tests hold it to tokens().
 *
 * Text follows lxml's reading of it: an element's .text is the run of text
 * nodes before its first other child, its .tail the run after it, and the
 * runs come in the order iterwalk's events read them. White space is what
 * str.split() and str.strip() take for it (Py_UNICODE_ISSPACE).
 *
 * The walk is a loop over the tree's pointers, never recursion: pages nest
 * up to libxml2's limit of 2048 levels. It holds a reference to the root
 * element, which keeps the document alive, and calls only the Python
 * functions it was given, which do not change the tree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <libxml/tree.h>
#include "lxml.etree.h"
#include "lxml-version.h"

/* classifier.html's action bits (_SKIP, _BREAK_BEFORE, _BREAK_AFTER, _LINK). */
#define SKIP 1
#define BREAK_BEFORE 2
#define BREAK_AFTER 4
#define LINK 8

static PyTypeObject *element_type;   /* lxml.etree._Element */

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

static int ints_append(Ints *a, Py_ssize_t value) {
    if (a->len == a->cap) {
        Py_ssize_t cap = a->cap ? 2 * a->cap : 64;
        Py_ssize_t *data = PyMem_Realloc(a->data, (size_t)cap * sizeof(Py_ssize_t));
        if (!data) {
            PyErr_NoMemory();
            return -1;
        }
        a->data = data;
        a->cap = cap;
    }
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

typedef struct {
    PyObject *facts_fn, *tokens_fn, *hidden_style_fn;
    long hidden_bit;
    Py_ssize_t max_tokens;  /* class/id tokens kept per element */
    Table names;            /* (name, ns) -> index in facts */
    Facts *facts;
    Py_ssize_t n_facts, cap_facts;
    Bytes line, run, scratch;
    Py_ssize_t link_chars;
    int link_depth;
    PyObject *texts;        /* per line */
    Ints link_counts, line_elements;
    /* Contexts, by element number; 0 stands for outside the root. */
    Table known;            /* element -> number */
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
    PyMem_Free(w->line.data);
    PyMem_Free(w->run.data);
    PyMem_Free(w->scratch.data);
    Py_XDECREF(w->texts);
    PyMem_Free(w->link_counts.data);
    PyMem_Free(w->line_elements.data);
    table_free(&w->known);
    Py_XDECREF(w->tags);
    Py_XDECREF(w->paths);
    Py_XDECREF(w->tokens);
    PyMem_Free(w->regions.data);
    PyMem_Free(w->depths.data);
    PyMem_Free(w->parents.data);
    Py_XDECREF(w->page_tokens);
}

/* The tag as lxml gives it: "{namespace}name" when the element has one. */
static PyObject *tag_of(const xmlNode *node) {
    if (node->ns && node->ns->href)
        return PyUnicode_FromFormat("{%s}%s", (const char *)node->ns->href, (const char *)node->name);
    return PyUnicode_DecodeUTF8((const char *)node->name, (Py_ssize_t)strlen((const char *)node->name), NULL);
}

static const Facts *facts_of(Walk *w, const xmlNode *node) {
    const void *ns = node->ns ? (const void *)node->ns->href : NULL;
    Py_ssize_t index;
    if (table_get(&w->names, node->name, ns, &index)) return &w->facts[index];
    PyObject *tag = tag_of(node);
    if (!tag) return NULL;
    PyObject *answer = PyObject_CallOneArg(w->facts_fn, tag);
    Py_DECREF(tag);
    if (!answer) return NULL;
    Facts f = {0};
    PyObject *name;
    int ok = PyArg_ParseTuple(answer, "iUppi;facts(tag) must give (action, name, is_block, hides, regions)",
                              &f.action, &name, &f.is_block, &f.hides, &f.regions);
    if (ok) {
        f.name = Py_NewRef(name);
        f.spaced = PyUnicode_FromFormat(" %U", name);
    }
    Py_DECREF(answer);
    if (!ok || !f.spaced) {
        Py_XDECREF(f.name);
        return NULL;
    }
    if (w->n_facts == w->cap_facts) {
        Py_ssize_t cap = w->cap_facts ? 2 * w->cap_facts : 32;
        Facts *grown = PyMem_Realloc(w->facts, (size_t)cap * sizeof(Facts));
        if (!grown) {
            Py_DECREF(f.name);
            Py_DECREF(f.spaced);
            PyErr_NoMemory();
            return NULL;
        }
        w->facts = grown;
        w->cap_facts = cap;
    }
    index = w->n_facts++;
    w->facts[index] = f;
    if (table_put(&w->names, node->name, ns, index) < 0) return NULL;
    return &w->facts[index];
}

static int is_element(const xmlNode *node) {
    return node && node->type == XML_ELEMENT_NODE;
}

static int is_text(const xmlNode *node) {
    return node && (node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE);
}

/* The element a line cut before node ends in: node's parent (lxml's getparent). */
static const xmlNode *parent_element(const xmlNode *node) {
    return is_element(node->parent) ? node->parent : NULL;
}

/* A line ends in `end` (NULL: outside the root). */
static int end_line(Walk *w, const xmlNode *end) {
    PyObject *text = collapsed(w->line.data, w->line.len, &w->scratch);
    if (!text) return -1;
    int failed = PyList_Append(w->texts, text);
    Py_DECREF(text);
    if (failed || ints_append(&w->link_counts, w->link_chars) < 0
        || ints_append(&w->line_elements, (Py_ssize_t)(intptr_t)end) < 0)
        return -1;
    w->line.len = 0;
    w->link_chars = 0;
    return 0;
}

/* Reads the run of text nodes starting at node; returns its last node. */
static const xmlNode *read_run(Walk *w, const xmlNode *node, int *error) {
    w->run.len = 0;
    const xmlNode *last = node;
    for (; is_text(node); node = node->next) {
        last = node;
        if (!node->content) continue;
        size_t n = strlen((const char *)node->content);
        if (bytes_reserve(&w->run, n) < 0) {
            *error = 1;
            return last;
        }
        memcpy(w->run.data + w->run.len, node->content, n);
        w->run.len += n;
    }
    const unsigned char *s = w->run.data;
    size_t n = w->run.len;
    if (n && (w->line.len || !all_space(s, n))) {
        if (bytes_reserve(&w->line, n) < 0) {
            *error = 1;
            return last;
        }
        memcpy(w->line.data + w->line.len, s, n);
        w->line.len += n;
        if (w->link_depth) w->link_chars += stripped_length(s, n);
    }
    return last;
}

static int start_element(Walk *w, const xmlNode *node, int *skip) {
    const Facts *f = facts_of(w, node);
    if (!f) return -1;
    *skip = f->action & SKIP;
    if (*skip) return 0;
    if ((f->action & BREAK_BEFORE) && w->line.len && end_line(w, parent_element(node)) < 0) return -1;
    if (f->action & LINK) w->link_depth++;
    return 0;
}

static int end_element(Walk *w, const xmlNode *node) {
    const Facts *f = facts_of(w, node);
    if (!f) return -1;
    if (f->action & SKIP) return 0;
    if ((f->action & BREAK_AFTER) && w->line.len && end_line(w, node) < 0) return -1;
    if (f->action & LINK) w->link_depth--;
    return 0;
}

static int read_lines(Walk *w, const xmlNode *root) {
    const xmlNode *node = root;
    for (;;) {
        /* Entering node. */
        if (is_element(node)) {
            int skip;
            if (start_element(w, node, &skip) < 0) return -1;
            if (!skip && node->children) {
                node = node->children;
                continue;
            }
            if (end_element(w, node) < 0) return -1;
        } else if (is_text(node)) {
            int error = 0;
            node = read_run(w, node, &error);
            if (error) return -1;
        }
        /* Leaving node: on to its next sibling, or up, ending each parent. */
        for (;;) {
            if (node == root) return 0;
            if (node->next) {
                node = node->next;
                break;
            }
            node = node->parent;
            if (end_element(w, node) < 0) return -1;
        }
    }
}

/* The value of an attribute without a namespace (lxml's get), as UTF-8 in
 * w->scratch; 0 when the element has no such attribute. */
static int attribute(Walk *w, const xmlNode *node, const char *name, int *error) {
    for (const xmlAttr *a = node->properties; a; a = a->next) {
        if (a->ns || strcmp((const char *)a->name, name) != 0) continue;
        w->scratch.len = 0;
        for (const xmlNode *c = a->children; c; c = c->next) {
            if (!is_text(c) || !c->content) continue;
            size_t n = strlen((const char *)c->content);
            if (bytes_reserve(&w->scratch, n) < 0) {
                *error = 1;
                return 0;
            }
            memcpy(w->scratch.data + w->scratch.len, c->content, n);
            w->scratch.len += n;
        }
        return 1;
    }
    return 0;
}

/* The attribute as a str, or None. */
static PyObject *attribute_str(Walk *w, const xmlNode *node, const char *name) {
    int error = 0;
    if (!attribute(w, node, name, &error)) {
        if (error) return NULL;
        Py_RETURN_NONE;
    }
    return PyUnicode_DecodeUTF8((const char *)w->scratch.data, (Py_ssize_t)w->scratch.len, NULL);
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

/* The class/id tokens the element adds. */
static PyObject *own_tokens(Walk *w, const xmlNode *node) {
    PyObject *class_value = attribute_str(w, node, "class");
    if (!class_value) return NULL;
    PyObject *id_value = attribute_str(w, node, "id");
    if (!id_value) {
        Py_DECREF(class_value);
        return NULL;
    }
    if (class_value == Py_None && id_value == Py_None) {
        Py_DECREF(class_value);
        Py_DECREF(id_value);
        return PyUnicode_FromStringAndSize(NULL, 0);
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

/* Whether the element hides its content: hidden, aria-hidden="true", or a
 * style that hides it (hidden_style decides). -1 on error. */
static int hides(Walk *w, const xmlNode *node) {
    int error = 0;
    if (attribute(w, node, "hidden", &error)) return 1;
    if (!error && attribute(w, node, "aria-hidden", &error)
        && w->scratch.len == 4 && memcmp(w->scratch.data, "true", 4) == 0)
        return 1;
    if (error) return -1;
    PyObject *style = attribute_str(w, node, "style");
    if (!style) return -1;
    if (style == Py_None) {
        Py_DECREF(style);
        return 0;
    }
    PyObject *answer = PyObject_CallOneArg(w->hidden_style_fn, style);
    Py_DECREF(style);
    if (!answer) return -1;
    int hidden = PyObject_IsTrue(answer);
    Py_DECREF(answer);
    return hidden;
}

/* The context of element `node` whose parent has context `parent`. */
static Py_ssize_t new_context(Walk *w, const xmlNode *node, Py_ssize_t parent) {
    const Facts *f = facts_of(w, node);
    if (!f) return -1;
    PyObject *parent_path = PyList_GET_ITEM(w->paths, parent);
    PyObject *parent_tokens = PyList_GET_ITEM(w->tokens, parent);
    PyObject *tag = f->is_block ? f->name : PyList_GET_ITEM(w->tags, parent);
    PyObject *path = PyUnicode_GET_LENGTH(parent_path)
        ? PyUnicode_Concat(parent_path, f->spaced) : Py_NewRef(f->name);
    if (!path) return -1;
    PyObject *tokens = NULL;
    PyObject *own = own_tokens(w, node);
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
        int hidden = f->hides ? 1 : hides(w, node);
        if (hidden < 0) Py_CLEAR(tokens);
        else if (hidden) regions |= w->hidden_bit;
    }
    Py_ssize_t number = PyList_GET_SIZE(w->tags);
    int failed = !tokens || PyList_Append(w->tags, tag) < 0 || PyList_Append(w->paths, path) < 0
        || PyList_Append(w->tokens, tokens) < 0 || ints_append(&w->regions, regions) < 0
        || ints_append(&w->depths, w->depths.data[parent] + 1) < 0
        || ints_append(&w->parents, parent) < 0
        || table_put(&w->known, node, NULL, number) < 0;
    Py_DECREF(path);
    Py_XDECREF(tokens);
    return failed ? -1 : number;
}

/* The number of element `node`'s context, making it and its ancestors'. */
static Py_ssize_t context_of(Walk *w, const xmlNode *node, Ints *chain) {
    Py_ssize_t number;
    if (!node) return 0;
    if (table_get(&w->known, node, NULL, &number)) return number;
    chain->len = 0;
    while (node && !table_get(&w->known, node, NULL, &number)) {
        if (ints_append(chain, (Py_ssize_t)(intptr_t)node) < 0) return -1;
        node = parent_element(node);
    }
    if (!node) number = 0;
    for (Py_ssize_t i = chain->len - 1; i >= 0; i--) {
        number = new_context(w, (const xmlNode *)(intptr_t)chain->data[i], number);
        if (number < 0) return -1;
    }
    return number;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    PyObject *root_object, *top_tag, *result = NULL;
    PyObject *links = NULL, *elements = NULL, *regions = NULL, *depths = NULL, *parents = NULL;
    Walk w = {0};
    Ints chain = {0};
    if (!PyArg_ParseTuple(args, "OOOOUln:walk", &root_object, &w.facts_fn, &w.tokens_fn,
                          &w.hidden_style_fn, &top_tag, &w.hidden_bit, &w.max_tokens))
        return NULL;
    if (w.max_tokens < 0) {
        PyErr_SetString(PyExc_ValueError, "walk() needs max_tokens >= 0");
        return NULL;
    }
    if (!PyObject_TypeCheck(root_object, element_type)) {
        PyErr_SetString(PyExc_TypeError, "walk() needs an lxml element");
        return NULL;
    }
    const xmlNode *root = ((struct LxmlElement *)root_object)->_c_node;
    if (!is_element(root)) {
        PyErr_SetString(PyExc_ValueError, "walk() needs an element node");
        return NULL;
    }
    Py_INCREF(root_object);   /* keeps the document alive through the callbacks */
    if (table_init(&w.names, 64) < 0 || table_init(&w.known, 256) < 0) goto done;
    w.texts = PyList_New(0);
    w.page_tokens = PyDict_New();
    w.tags = Py_BuildValue("[O]", top_tag);
    w.paths = Py_BuildValue("[s]", "");
    w.tokens = Py_BuildValue("[s]", "");
    if (!w.texts || !w.page_tokens || !w.tags || !w.paths || !w.tokens
        || ints_append(&w.regions, 0) < 0 || ints_append(&w.depths, 0) < 0
        || ints_append(&w.parents, -1) < 0)
        goto done;

    if (read_lines(&w, root) < 0) goto done;
    if (w.line.len && end_line(&w, NULL) < 0) goto done;

    /* Lines' elements -> their context numbers, in line order. */
    for (Py_ssize_t i = 0; i < w.line_elements.len; i++) {
        Py_ssize_t number = context_of(&w, (const xmlNode *)(intptr_t)w.line_elements.data[i], &chain);
        if (number < 0) goto done;
        w.line_elements.data[i] = number;
    }

    links = link_densities(&w);
    elements = ints_to_list(&w.line_elements);
    regions = ints_to_list(&w.regions);
    depths = ints_to_list(&w.depths);
    parents = ints_to_list(&w.parents);
    if (links && elements && regions && depths && parents)
        result = PyTuple_Pack(9, w.texts, links, elements, w.tags, w.paths, w.tokens,
                              regions, depths, parents);
done:
    PyMem_Free(chain.data);
    Py_XDECREF(links);
    Py_XDECREF(elements);
    Py_XDECREF(regions);
    Py_XDECREF(depths);
    Py_XDECREF(parents);
    walk_free(&w);
    Py_DECREF(root_object);
    return result;
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(root, facts, tokens, hidden_style, top_tag, hidden_bit, max_tokens) -> (texts, link_density, "
     "elements, tags, paths, tokens, regions, depths, parents): the lines under an lxml "
     "element and their contexts; classifier.html describes each part."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "classifier._walk",
    "classifier.html's walk over an lxml tree, in compiled code.", -1, methods,
};

PyMODINIT_FUNC PyInit__walk(void) {
    PyObject *etree = PyImport_ImportModule("lxml.etree");
    if (!etree) return NULL;
    PyObject *type = PyObject_GetAttrString(etree, "_Element");
    Py_DECREF(etree);
    if (!type) return NULL;
    if (!PyType_Check(type)) {
        Py_DECREF(type);
        PyErr_SetString(PyExc_ImportError, "lxml.etree._Element is not a type");
        return NULL;
    }
    element_type = (PyTypeObject *)type;   /* kept for the module's life */
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "LXML_VERSION", LXML_VERSION_STRING) < 0) Py_CLEAR(m);
    return m;
}
