/* The per-line text features of a page in compiled code: one pass over the
 * page's joined lines instead of a few hundred array operations.
 *
 * classifier.hashing and classifier.shape define these features with numpy
 * and stay the definition and the fallback; the functions here give the same
 * numbers (the tests compare both on every page they have):
 *
 * - text_block: the sparse text features of every line (words and word
 *   pairs, character n-grams of short lines, the neighbours' folded words,
 *   and, for HTML, the markup block the caller made) as CSR arrays, the
 *   block Featurizer._text assembles.
 * - shape_counts: per line, the counts line_shapes turns into shape columns
 *   (character classes, words, title-case words, function words, glued
 *   words, sentence ends, bullets, URLs).
 * - cue_hits: per line, the cue phrases found on it, by label.
 * - shape_columns and dense_block: those counts made into line_shapes'
 *   columns, and those with the page, markup, neighbour and run columns
 *   into Featurizer._dense's block, without its few hundred small array
 *   operations (which cost more than the counting on short pages).
 * - subtree_sums: classifier.containers' sums over each element's subtree.
 * - index_distinct: the distinct values of a sequence and each one's index,
 *   for the per-line tags, paths, class lists and regions pages repeat.
 *
 * Character classes are the str methods' (Py_UNICODE_IS*), which is what the
 * numpy table in classifier.joined holds, and a word is a run of \w
 * characters as the re module has it (alphanumeric or "_"). Seeds, sizes and
 * the character lists come in as arguments, so each keeps its one home in
 * the Python modules. Arrays come in through the buffer protocol and go out
 * as bytearrays numpy wraps without a copy, so building this needs no numpy
 * headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------ */

/* The per-line loops run without the GIL, so that the server's other threads
 * (reading and answering requests) run meanwhile. Code there allocates with
 * PyMem_Raw* and sets no exception: it returns one of these codes, and the
 * caller raises the matching exception once it holds the GIL again. */
enum { FAIL_MEMORY = -1, FAIL_ROW_TOO_LONG = -2, FAIL_COLUMN = -3 };

static void raise_failure(int code) {
    if (code == FAIL_ROW_TOO_LONG)
        PyErr_SetString(PyExc_ValueError, "a line has too many features (16 million or more): split it into shorter lines, or lower max_line_chars (the server's --max-line-chars) so such lines are refused");
    else if (code == FAIL_COLUMN)
        PyErr_SetString(PyExc_ValueError, "a feature column is past the weights' rows");
    else
        PyErr_NoMemory();
}

typedef struct {
    uint64_t *items;
    Py_ssize_t size, capacity;
} U64s;

static int reserve(U64s *v, Py_ssize_t n) {
    if (n <= v->capacity) return 0;
    Py_ssize_t capacity = v->capacity ? v->capacity : 256;
    while (capacity < n) capacity *= 2;
    uint64_t *grown = PyMem_RawRealloc(v->items, capacity * sizeof(uint64_t));
    if (!grown) return FAIL_MEMORY;
    v->items = grown;
    v->capacity = capacity;
    return 0;
}

static inline int u64s_push(U64s *v, uint64_t x) {
    if (v->size == v->capacity && reserve(v, v->size + 1) < 0) return FAIL_MEMORY;
    v->items[v->size++] = x;
    return 0;
}

/* Sorts items by their bits [low, high), keeping the order of equal keys
 * (radix passes of 8 bits; insertion sort for short runs, comparing whole
 * items, which orders them the same way where the callers use it: bits
 * below `low` are then a position that already increases). Rows are short,
 * and a comparison sort's unpredictable branches cost more than the passes.
 * `spare` holds n items. */
static void sort_bits(uint64_t *items, uint64_t *spare, Py_ssize_t n, int low, int high) {
    if (n <= 32) {
        for (Py_ssize_t i = 1; i < n; i++) {
            uint64_t x = items[i];
            Py_ssize_t j = i;
            for (; j > 0 && items[j - 1] > x; j--) items[j] = items[j - 1];
            items[j] = x;
        }
        return;
    }
    uint64_t *from = items, *to = spare;
    for (int shift = low; shift < high; shift += 8) {
        Py_ssize_t count[257] = {0};
        for (Py_ssize_t i = 0; i < n; i++) count[((from[i] >> shift) & 0xFF) + 1]++;
        for (int d = 0; d < 256; d++) count[d + 1] += count[d];
        for (Py_ssize_t i = 0; i < n; i++) to[count[(from[i] >> shift) & 0xFF]++] = from[i];
        uint64_t *t = from;
        from = to;
        to = t;
    }
    if (from != items) memcpy(items, from, n * sizeof(uint64_t));
}

static int bits_of(uint64_t width) {  /* log2 of a power of two */
    int bits = 0;
    while ((1ULL << bits) < width) bits++;
    return bits;
}

/* classifier.hashing._mix */
static inline uint64_t mix(uint64_t h) {
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

/* CRC-32 as zlib.crc32, table-driven. */
static uint32_t crc_table[256];

static void make_crc_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        crc_table[i] = c;
    }
}

static inline uint32_t crc_byte(uint32_t crc, uint8_t b) {
    return crc_table[(crc ^ b) & 0xFF] ^ (crc >> 8);
}

/* The UTF-8 bytes of one code point (a lone surrogate as "surrogatepass"). */
static inline int utf8(Py_UCS4 c, uint8_t out[4]) {
    if (c < 0x80) {
        out[0] = (uint8_t)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (uint8_t)(0xC0 | (c >> 6));
        out[1] = (uint8_t)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (c >> 12));
        out[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (c >> 18));
    out[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* The str methods' character classes, looked up once per BMP character at
 * import (the Unicode database's lookups cost more than everything else
 * done with a character). */
enum { K_ALPHA = 1, K_UPPER = 2, K_LOWER = 4, K_DIGIT = 8, K_SPACE = 16, K_ALNUM = 32,
       K_DECIMAL = 64, K_WORD = 128 };
static uint8_t bmp_classes[0x10000];

static uint8_t classes_of(Py_UCS4 c) {
    return (Py_UNICODE_ISALPHA(c) ? K_ALPHA : 0) | (Py_UNICODE_ISUPPER(c) ? K_UPPER : 0)
           | (Py_UNICODE_ISLOWER(c) ? K_LOWER : 0) | (Py_UNICODE_ISDIGIT(c) ? K_DIGIT : 0)
           | (Py_UNICODE_ISSPACE(c) ? K_SPACE : 0) | (Py_UNICODE_ISALNUM(c) ? K_ALNUM : 0)
           | (Py_UNICODE_ISDECIMAL(c) ? K_DECIMAL : 0)
           | ((c == '_' || Py_UNICODE_ISALNUM(c)) ? K_WORD : 0);
}

static void make_class_table(void) {
    for (Py_UCS4 c = 0; c < 0x10000; c++) bmp_classes[c] = classes_of(c);
}

static inline uint8_t classes(Py_UCS4 c) {
    return c < 0x10000 ? bmp_classes[c] : classes_of(c);
}

/* \w as the re module reads it in a str pattern. */
static inline int is_word(Py_UCS4 c) {
    return classes(c) & K_WORD;
}

static int in_chars(Py_UCS4 c, PyObject *chars) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(chars);
    int kind = PyUnicode_KIND(chars);
    const void *data = PyUnicode_DATA(chars);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyUnicode_READ(kind, data, i) == c) return 1;
    return 0;
}

/* A C-contiguous one-dimensional buffer of n items of the given size and
 * format letters ("lq" for int64, ...). */
static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *formats,
                     Py_ssize_t n, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (view->ndim != 1 || view->itemsize != itemsize || strlen(f) != 1 || !strchr(formats, *f)
        || (n >= 0 && view->shape[0] != n)) {
        PyErr_Format(PyExc_ValueError, "%s must be a one-dimensional array of %zd %zd-byte items",
                     name, n, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *new_bytearray(Py_ssize_t bytes, char **data) {
    PyObject *out = PyByteArray_FromStringAndSize(NULL, bytes);
    if (out) *data = PyByteArray_AS_STRING(out);
    return out;
}

/* Lines are [starts[i], starts[i] + lengths[i]) of a text of n_chars
 * characters, in order, each followed by a newline inside the text. */
static int check_lines(const int64_t *starts, const int64_t *lengths, Py_ssize_t n,
                       Py_ssize_t n_chars) {
    int64_t previous_end = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (lengths[i] < 0 || starts[i] <= previous_end || starts[i] + lengths[i] >= n_chars) {
            PyErr_SetString(PyExc_ValueError, "line bounds do not fit the text");
            return -1;
        }
        previous_end = starts[i] + lengths[i];
    }
    return 0;
}

/* ---- text_block ----------------------------------------------------------- */

/* A row's entries are counted and placed in 24 bits. */
#define MAX_ROW (1 << 24)

typedef struct {
    int64_t *indptr;   /* n + 1 */
    int64_t *columns;
    float *values;
    Py_ssize_t size, capacity;
} Rows;

static int rows_reserve(Rows *r, Py_ssize_t more) {
    if (r->size + more <= r->capacity) return 0;
    Py_ssize_t capacity = r->capacity ? r->capacity : 1024;
    while (capacity < r->size + more) capacity *= 2;
    int64_t *columns = PyMem_RawRealloc(r->columns, capacity * sizeof(int64_t));
    if (!columns) return FAIL_MEMORY;
    r->columns = columns;
    float *values = PyMem_RawRealloc(r->values, capacity * sizeof(float));
    if (!values) return FAIL_MEMORY;
    r->values = values;
    r->capacity = capacity;
    return 0;
}

static void rows_free(Rows *r) {
    PyMem_RawFree(r->indptr);
    PyMem_RawFree(r->columns);
    PyMem_RawFree(r->values);
}

/* The rows as (indptr, columns, values) bytearrays of int64, int64 and, as
 * asked, float64 or float32 values. */
static PyObject *rows_to_python(const Rows *r, Py_ssize_t n, int values_as_double) {
    char *p, *q, *v;
    PyObject *result = NULL;
    size_t value_size = values_as_double ? sizeof(double) : sizeof(float);
    PyObject *indptr = new_bytearray((n + 1) * sizeof(int64_t), &p);
    PyObject *columns = indptr ? new_bytearray(r->size * sizeof(int64_t), &q) : NULL;
    PyObject *values = columns ? new_bytearray(r->size * value_size, &v) : NULL;
    if (values) {
        memcpy(p, r->indptr, (n + 1) * sizeof(int64_t));
        if (r->size) memcpy(q, r->columns, r->size * sizeof(int64_t));
        if (!values_as_double) {
            if (r->size) memcpy(v, r->values, r->size * sizeof(float));
        } else {
            for (Py_ssize_t k = 0; k < r->size; k++) ((double *)v)[k] = r->values[k];
        }
        result = PyTuple_Pack(3, indptr, columns, values);
    }
    Py_XDECREF(indptr);
    Py_XDECREF(columns);
    Py_XDECREF(values);
    return result;
}

/* hashing.hashed_counts for one line: its hashes' columns, sorted, counted,
 * and scaled to unit length (float64 arithmetic rounded to float32). */
static int add_counted_row(Rows *r, U64s *hashes, U64s *spare, uint64_t width) {
    Py_ssize_t n = hashes->size;
    uint64_t *items = hashes->items;
    if (n >= MAX_ROW) return FAIL_ROW_TOO_LONG;
    for (Py_ssize_t k = 0; k < n; k++) items[k] &= width - 1;
    if (reserve(spare, n) < 0) return FAIL_MEMORY;
    sort_bits(items, spare->items, n, 0, bits_of(width));
    double squares = 0;
    Py_ssize_t distinct = 0;
    for (Py_ssize_t k = 0; k < n;) {
        Py_ssize_t j = k;
        while (j < n && items[j] == items[k]) j++;
        squares += (double)(j - k) * (double)(j - k);
        items[distinct++] = items[k] | ((uint64_t)(j - k) << 40);  /* column (< 2**40), count */
        k = j;
    }
    if (rows_reserve(r, distinct) < 0) return FAIL_MEMORY;
    double norm = sqrt(squares);
    for (Py_ssize_t k = 0; k < distinct; k++) {
        r->columns[r->size] = (int64_t)(items[k] & ((1ULL << 40) - 1));
        r->values[r->size] = (float)((double)(items[k] >> 40) / norm);
        r->size++;
    }
    return 0;
}

typedef struct {
    uint64_t word, pair, chr, multiplier;
} Seeds;

/* Word and word-pair hashes of one line of the lower-cased text
 * (hashing.word_features). */
static int line_word_hashes(int kind, const void *text, int64_t start, int64_t end,
                            const Seeds *seeds, U64s *out) {
    uint64_t previous = 0;
    int have_previous = 0;
    for (int64_t p = start; p < end;) {
        if (!is_word(PyUnicode_READ(kind, text, p))) {
            p++;
            continue;
        }
        uint32_t crc = 0xFFFFFFFFu;
        for (; p < end; p++) {
            Py_UCS4 c = PyUnicode_READ(kind, text, p);
            if (!is_word(c)) break;
            uint8_t bytes[4];
            int n = utf8(c, bytes);
            for (int k = 0; k < n; k++) crc = crc_byte(crc, bytes[k]);
        }
        uint64_t word = mix((uint64_t)(crc ^ 0xFFFFFFFFu) ^ seeds->word);
        if (u64s_push(out, word) < 0) return FAIL_MEMORY;
        if (have_previous && u64s_push(out, mix((previous * seeds->multiplier) ^ word ^ seeds->pair)) < 0)
            return FAIL_MEMORY;
        previous = word;
        have_previous = 1;
    }
    return 0;
}

/* Character n-gram hashes of one line with a boundary (newline) on each
 * side (hashing.char_ngram_features). */
static int line_char_hashes(int kind, const void *text, int64_t start, int64_t length,
                            const long *sizes, Py_ssize_t n_sizes, const Seeds *seeds, U64s *out) {
    for (Py_ssize_t s = 0; s < n_sizes; s++) {
        long size = sizes[s];
        for (int64_t first = -1; first + size <= length + 1; first++) {
            uint64_t h = 0;
            for (long k = 0; k < size; k++) {
                int64_t at = first + k;
                uint64_t code = (at < 0 || at >= length) ? '\n' : PyUnicode_READ(kind, text, start + at);
                h = k ? h * seeds->multiplier + code : code;
            }
            if (u64s_push(out, mix(h ^ (seeds->chr + (uint64_t)size))) < 0) return FAIL_MEMORY;
        }
    }
    return 0;
}

/* features._fold_entries for one row: its word columns folded into
 * `mask + 1` columns, the values of a column summed in float32 in the order of
 * the columns they came from. */
static int fold_row(const Rows *words, Py_ssize_t row, uint64_t width, Rows *out, U64s *scratch,
                    U64s *spare) {
    uint64_t mask = width - 1;
    int64_t a = words->indptr[row], b = words->indptr[row + 1];
    if (b - a >= MAX_ROW) return FAIL_ROW_TOO_LONG;
    scratch->size = 0;
    for (int64_t k = a; k < b; k++)
        /* folded column, then position: sorting keeps each column's order */
        if (u64s_push(scratch, (((uint64_t)words->columns[k] & mask) << 24) | (uint64_t)(k - a)) < 0)
            return FAIL_MEMORY;
    if (reserve(spare, scratch->size) < 0) return FAIL_MEMORY;
    sort_bits(scratch->items, spare->items, scratch->size, 24, 24 + bits_of(width));
    if (rows_reserve(out, scratch->size) < 0) return FAIL_MEMORY;
    for (Py_ssize_t k = 0; k < scratch->size;) {
        uint64_t column = scratch->items[k] >> 24;
        float sum = 0;
        int first = 1;
        for (; k < scratch->size && scratch->items[k] >> 24 == column; k++) {
            float v = words->values[a + (scratch->items[k] & 0xFFFFFF)];
            sum = first ? v : sum + v;
            first = 0;
        }
        out->columns[out->size] = (int64_t)column;
        out->values[out->size] = sum;
        out->size++;
    }
    return 0;
}

static int append_row(Rows *into, const Rows *from, Py_ssize_t row, int64_t offset) {
    int64_t a = from->indptr[row], b = from->indptr[row + 1];
    if (rows_reserve(into, b - a) < 0) return FAIL_MEMORY;
    for (int64_t k = a; k < b; k++) {
        into->columns[into->size] = from->columns[k] + offset;
        into->values[into->size] = from->values[k];
        into->size++;
    }
    return 0;
}

static const char text_block_doc[] =
    "text_block(lowered, starts, lengths, page_first, page_end, widths, char_sizes,\n"
    "           max_chars, seeds, markup) -> (indptr, columns, values)\n\n"
    "The rows of Featurizer._text for the lines of `lowered` (the lower-cased\n"
    "joined text): starts and lengths (int64) place each line; page_first and\n"
    "page_end (int64, per line) bound its page. widths = (words, chars,\n"
    "context) feature counts, powers of two; seeds = (word, pair, char,\n"
    "multiplier). markup is None or (kinds, indptr, columns, values): row\n"
    "kinds[i] (int64; -1 for none) of the CSR block (indptr, columns int64,\n"
    "values float32) is appended to line i after the other blocks. Returns\n"
    "bytearrays of int64, int64 and float64.\n\n"
    "With weights (float64, C-ordered features x n_classes), returns instead\n"
    "the rows' product with them, a bytearray of (lines x n_classes) float64:\n"
    "each row's entries multiplied and added in the order of the CSR row from\n"
    "0.0, as scipy's sparse product adds them, without making the rows.";

/* The product rows x weights for one row: scores[k] += value * weights[column, k]
 * for each entry in order (columns checked against the weights' rows). */
typedef struct {
    const double *weights;
    Py_ssize_t n_rows, n_classes;
} Weights;

static inline int add_scores(const Weights *w, int64_t column, float value, double *scores) {
    if (column < 0 || column >= w->n_rows) return FAIL_COLUMN;
    const double *row = w->weights + column * w->n_classes;
    for (Py_ssize_t k = 0; k < w->n_classes; k++) scores[k] += (double)value * row[k];
    return 0;
}

/* Asks for the weights of a row's entries ahead of their use: the weights
 * are megabytes, read at random, so most reads would otherwise wait on memory
 * one after another. */
static void prefetch_row(const Weights *w, const Rows *from, Py_ssize_t row, int64_t offset) {
    for (int64_t k = from->indptr[row]; k < from->indptr[row + 1]; k++) {
        int64_t column = from->columns[k] + offset;
        if (column >= 0 && column < w->n_rows) {
            const double *at = w->weights + column * w->n_classes;
            __builtin_prefetch(at);
            __builtin_prefetch(at + w->n_classes - 1);
        }
    }
}

static int add_row_scores(const Weights *w, const Rows *from, Py_ssize_t row, int64_t offset,
                          double *scores) {
    for (int64_t k = from->indptr[row]; k < from->indptr[row + 1]; k++)
        if (add_scores(w, from->columns[k] + offset, from->values[k], scores) < 0) return FAIL_COLUMN;
    return 0;
}

static PyObject *text_block(PyObject *self, PyObject *args) {
    PyObject *lowered, *starts_obj, *lengths_obj, *first_obj, *end_obj, *sizes_obj, *markup;
    PyObject *weights_obj = Py_None;
    Py_ssize_t n_classes = 0;
    unsigned long long word_width, char_width, context_width;
    unsigned long long word_seed, pair_seed, char_seed, multiplier;
    long max_chars;
    if (!PyArg_ParseTuple(args, "UOOOO(KKK)Ol(KKKK)O|On", &lowered, &starts_obj, &lengths_obj,
                          &first_obj, &end_obj, &word_width, &char_width, &context_width,
                          &sizes_obj, &max_chars, &word_seed, &pair_seed, &char_seed, &multiplier,
                          &markup, &weights_obj, &n_classes))
        return NULL;
    unsigned long long widths[3] = {word_width, char_width, context_width};
    for (int k = 0; k < 3; k++)
        if (widths[k] == 0 || widths[k] & (widths[k] - 1) || widths[k] > (1ULL << 32)) {
            PyErr_SetString(PyExc_ValueError, "feature counts must be powers of two up to 2**32");
            return NULL;
        }
    if (context_width > word_width) {
        PyErr_SetString(PyExc_ValueError, "the context width must not exceed the word width");
        return NULL;
    }
    long sizes[8];
    Py_ssize_t n_sizes;
    {
        PyObject *seq = PySequence_Fast(sizes_obj, "char_sizes must be a sequence");
        if (!seq) return NULL;
        n_sizes = PySequence_Fast_GET_SIZE(seq);
        int bad = n_sizes > 8;
        for (Py_ssize_t s = 0; !bad && s < n_sizes; s++) {
            sizes[s] = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, s));
            if (sizes[s] == -1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                return NULL;
            }
            bad = sizes[s] < 1 || sizes[s] > 16;
        }
        Py_DECREF(seq);
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "at most 8 n-gram sizes, each from 1 to 16");
            return NULL;
        }
    }
    Seeds seeds = {word_seed, pair_seed, char_seed, multiplier};
    Py_buffer sv, lv, fv, ev, mk = {0}, mi = {0}, mc = {0}, mv = {0}, wv = {0};
    Weights w = {0};
    PyObject *result = NULL;
    Rows words = {0}, chars = {0}, context = {0}, out = {0};
    U64s hashes = {0}, spare = {0};
    int have[5] = {0};
    Py_ssize_t n_kinds = 0;
    if (get_array(starts_obj, &sv, 8, "lq", -1, "starts") < 0) return NULL;
    Py_ssize_t n = sv.shape[0];
    if (get_array(lengths_obj, &lv, 8, "lq", n, "lengths") < 0) goto release_s;
    if (get_array(first_obj, &fv, 8, "lq", n, "page_first") < 0) goto release_l;
    if (get_array(end_obj, &ev, 8, "lq", n, "page_end") < 0) goto release_f;
    const int64_t *starts = sv.buf, *lengths = lv.buf, *page_first = fv.buf, *page_end = ev.buf;
    int kind = PyUnicode_KIND(lowered);
    const void *text = PyUnicode_DATA(lowered);
    if (check_lines(starts, lengths, n, PyUnicode_GET_LENGTH(lowered)) < 0) goto release;
    for (Py_ssize_t i = 0; i < n; i++)
        if (page_first[i] < 0 || page_first[i] > i || page_end[i] <= i || page_end[i] > n) {
            PyErr_SetString(PyExc_ValueError, "a line's page bounds do not hold it");
            goto release;
        }
    const int64_t *m_kinds = NULL, *m_indptr = NULL, *m_columns = NULL;
    const float *m_values = NULL;
    if (markup != Py_None) {
        PyObject *a, *b, *c, *d;
        if (!PyArg_ParseTuple(markup, "OOOO", &a, &b, &c, &d)) goto release;
        if (get_array(a, &mk, 8, "lq", n, "markup kinds") < 0) goto release;
        have[3] = 1;
        if (get_array(b, &mi, 8, "lq", -1, "markup indptr") < 0) goto release;
        have[0] = 1;
        if (get_array(c, &mc, 8, "lq", -1, "markup columns") < 0) goto release;
        have[1] = 1;
        if (get_array(d, &mv, 4, "f", mc.shape[0], "markup values") < 0) goto release;
        have[2] = 1;
        m_kinds = mk.buf;
        m_indptr = mi.buf;
        m_columns = mc.buf;
        m_values = mv.buf;
        n_kinds = mi.shape[0] - 1;
        if (n_kinds < 0 || m_indptr[0] != 0 || m_indptr[n_kinds] != mc.shape[0]) goto bad_markup;
        for (Py_ssize_t k = 0; k < n_kinds; k++)
            if (m_indptr[k] > m_indptr[k + 1]) goto bad_markup;
        for (Py_ssize_t i = 0; i < n; i++)
            if (m_kinds[i] < -1 || m_kinds[i] >= n_kinds) goto bad_markup;
    }
    if (weights_obj != Py_None) {
        if (n_classes < 1) {
            PyErr_SetString(PyExc_ValueError, "weights need n_classes of at least 1");
            goto release;
        }
        if (get_array(weights_obj, &wv, 8, "d", -1, "weights") < 0) goto release;
        have[4] = 1;
        if (wv.shape[0] % n_classes) {
            PyErr_SetString(PyExc_ValueError, "weights must hold n_classes values per feature");
            goto release;
        }
        w = (Weights){.weights = wv.buf, .n_rows = wv.shape[0] / n_classes, .n_classes = n_classes};
    }
    words.indptr = PyMem_RawCalloc(n + 1, sizeof(int64_t));
    chars.indptr = PyMem_RawCalloc(n + 1, sizeof(int64_t));
    context.indptr = PyMem_RawCalloc(n + 1, sizeof(int64_t));
    out.indptr = PyMem_RawCalloc(n + 1, sizeof(int64_t));
    if (!words.indptr || !chars.indptr || !context.indptr || !out.indptr) {
        PyErr_NoMemory();
        goto release;
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; !failed && i < n; i++) {
        hashes.size = 0;
        failed = line_word_hashes(kind, text, starts[i], starts[i] + lengths[i], &seeds, &hashes);
        if (!failed) failed = add_counted_row(&words, &hashes, &spare, word_width);
        words.indptr[i + 1] = words.size;
        hashes.size = 0;
        if (!failed && lengths[i] <= max_chars) {
            failed = line_char_hashes(kind, text, starts[i], lengths[i], sizes, n_sizes, &seeds,
                                      &hashes);
            if (!failed) failed = add_counted_row(&chars, &hashes, &spare, char_width);
        }
        chars.indptr[i + 1] = chars.size;
        if (!failed) failed = fold_row(&words, i, context_width, &context, &hashes, &spare);
        context.indptr[i + 1] = context.size;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        raise_failure(failed);
        goto release;
    }
    int64_t offset_chars = (int64_t)word_width, offset_before = offset_chars + (int64_t)char_width;
    int64_t offset_after = offset_before + (int64_t)context_width;
    int64_t offset_markup = offset_after + (int64_t)context_width;
    if (w.weights) {
        char *data;
        PyObject *scores_obj = new_bytearray(n * n_classes * sizeof(double), &data);
        if (!scores_obj) goto release;
        double *scores = (double *)data;
        Py_BEGIN_ALLOW_THREADS
        memset(scores, 0, n * n_classes * sizeof(double));
        for (Py_ssize_t i = 0; !failed && i < n; i++) {
            double *row = scores + i * n_classes;
            Py_ssize_t next = i + 2;
            if (next < n) {  /* the next row's words, n-grams and markup */
                prefetch_row(&w, &words, next, 0);
                prefetch_row(&w, &chars, next, offset_chars);
                if (m_kinds && m_kinds[next] >= 0)
                    for (int64_t k = m_indptr[m_kinds[next]]; k < m_indptr[m_kinds[next] + 1]; k++) {
                        int64_t column = m_columns[k] + offset_markup;
                        if (column >= 0 && column < w.n_rows)
                            __builtin_prefetch(w.weights + column * n_classes);
                    }
            }
            failed = add_row_scores(&w, &words, i, 0, row);
            if (!failed) failed = add_row_scores(&w, &chars, i, offset_chars, row);
            if (!failed && i - 1 >= page_first[i])
                failed = add_row_scores(&w, &context, i - 1, offset_before, row);
            if (!failed && i + 1 < page_end[i])
                failed = add_row_scores(&w, &context, i + 1, offset_after, row);
            if (!failed && m_kinds && m_kinds[i] >= 0)
                for (int64_t k = m_indptr[m_kinds[i]]; !failed && k < m_indptr[m_kinds[i] + 1]; k++)
                    failed = add_scores(&w, m_columns[k] + offset_markup, m_values[k], row);
        }
        Py_END_ALLOW_THREADS
        if (failed) {
            raise_failure(failed);
            Py_DECREF(scores_obj);
            goto release;
        }
        result = scores_obj;
        goto release;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; !failed && i < n; i++) {
        failed = append_row(&out, &words, i, 0);
        if (!failed) failed = append_row(&out, &chars, i, offset_chars);
        if (!failed && i - 1 >= page_first[i]) failed = append_row(&out, &context, i - 1, offset_before);
        if (!failed && i + 1 < page_end[i]) failed = append_row(&out, &context, i + 1, offset_after);
        if (!failed && m_kinds && m_kinds[i] >= 0) {
            int64_t kind_row = m_kinds[i];
            failed = rows_reserve(&out, m_indptr[kind_row + 1] - m_indptr[kind_row]);
            for (int64_t k = m_indptr[kind_row]; !failed && k < m_indptr[kind_row + 1]; k++) {
                out.columns[out.size] = m_columns[k] + offset_markup;
                out.values[out.size] = m_values[k];
                out.size++;
            }
        }
        out.indptr[i + 1] = out.size;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        raise_failure(failed);
        goto release;
    }
    result = rows_to_python(&out, n, 1);
    goto release;
bad_markup:
    PyErr_SetString(PyExc_ValueError, "the markup block's rows do not fit its kinds and entries");
release:
    rows_free(&words);
    rows_free(&chars);
    rows_free(&context);
    rows_free(&out);
    PyMem_RawFree(hashes.items);
    PyMem_RawFree(spare.items);
    if (have[4]) PyBuffer_Release(&wv);
    if (have[2]) PyBuffer_Release(&mv);
    if (have[1]) PyBuffer_Release(&mc);
    if (have[0]) PyBuffer_Release(&mi);
    if (have[3]) PyBuffer_Release(&mk);
    PyBuffer_Release(&ev);
release_f:
    PyBuffer_Release(&fv);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
    return result;
}

/* ---- markup_block --------------------------------------------------------- */

/* CRC-32 of prefix then the UTF-8 bytes of text[a:b]. */
static uint32_t crc_token(uint32_t prefix_crc, int kind, const void *text, Py_ssize_t a,
                          Py_ssize_t b) {
    uint32_t crc = prefix_crc;
    for (Py_ssize_t p = a; p < b; p++) {
        uint8_t bytes[4];
        int n = utf8(PyUnicode_READ(kind, text, p), bytes);
        for (int k = 0; k < n; k++) crc = crc_byte(crc, bytes[k]);
    }
    return crc;
}

static uint32_t crc_start(PyObject *prefix) {  /* the running CRC after `prefix` */
    int kind = PyUnicode_KIND(prefix);
    return crc_token(0xFFFFFFFFu, kind, PyUnicode_DATA(prefix), 0, PyUnicode_GET_LENGTH(prefix));
}

/* Hashes of the white-space separated tokens of s (str.split()), only the
 * last `keep` of them if keep >= 0. */
static int split_hashes(PyObject *s, uint32_t prefix_crc, uint64_t seed, Py_ssize_t keep,
                        U64s *out) {
    int kind = PyUnicode_KIND(s);
    const void *text = PyUnicode_DATA(s);
    Py_ssize_t n = PyUnicode_GET_LENGTH(s), first_new = out->size;
    for (Py_ssize_t p = 0; p < n;) {
        if (classes(PyUnicode_READ(kind, text, p)) & K_SPACE) {
            p++;
            continue;
        }
        Py_ssize_t a = p;
        while (p < n && !(classes(PyUnicode_READ(kind, text, p)) & K_SPACE)) p++;
        uint32_t crc = crc_token(prefix_crc, kind, text, a, p) ^ 0xFFFFFFFFu;
        if (u64s_push(out, mix((uint64_t)crc ^ seed)) < 0) return FAIL_MEMORY;
    }
    Py_ssize_t found = out->size - first_new;
    if (keep >= 0 && found > keep) {
        memmove(out->items + first_new, out->items + out->size - keep, keep * sizeof(uint64_t));
        out->size = first_new + keep;
    }
    return 0;
}

static const char markup_block_doc[] =
    "markup_block(keys, width, seed, prefixes, path_tokens) -> (indptr, columns, values)\n\n"
    "hashing.markup_token_features and hashed_counts for each (tag, path,\n"
    "classes) key: the tag, the path's last path_tokens tags and each\n"
    "class/id token, after their prefixes = (tag, path, class) prefix; one\n"
    "row per key. Returns bytearrays of int64, int64 and float32.";

static PyObject *markup_block(PyObject *self, PyObject *args) {
    PyObject *keys, *tag_prefix, *path_prefix, *class_prefix;
    unsigned long long width, seed;
    Py_ssize_t path_tokens;
    if (!PyArg_ParseTuple(args, "O!KK(UUU)n", &PyList_Type, &keys, &width, &seed, &tag_prefix,
                          &path_prefix, &class_prefix, &path_tokens))
        return NULL;
    if (width == 0 || width & (width - 1) || width > (1ULL << 32)) {
        PyErr_SetString(PyExc_ValueError, "the width must be a power of two up to 2**32");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    uint32_t starts[3] = {crc_start(tag_prefix), crc_start(path_prefix), crc_start(class_prefix)};
    Rows rows = {0};
    U64s hashes = {0}, spare = {0};
    PyObject *result = NULL;
    rows.indptr = PyMem_RawCalloc(n + 1, sizeof(int64_t));
    if (!rows.indptr) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i), *tag, *path, *cls;
        if (!PyTuple_Check(key) || !PyArg_ParseTuple(key, "UUU", &tag, &path, &cls)) {
            if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_TypeError, "each key must be a (tag, path, classes) tuple of str");
            }
            goto done;
        }
        hashes.size = 0;
        int kind = PyUnicode_KIND(tag);
        uint32_t crc = crc_token(starts[0], kind, PyUnicode_DATA(tag), 0, PyUnicode_GET_LENGTH(tag));
        int failed = u64s_push(&hashes, mix((uint64_t)(crc ^ 0xFFFFFFFFu) ^ seed));
        if (!failed) failed = split_hashes(path, starts[1], seed, path_tokens, &hashes);
        if (!failed) failed = split_hashes(cls, starts[2], seed, -1, &hashes);
        if (!failed) failed = add_counted_row(&rows, &hashes, &spare, width);
        if (failed) {
            raise_failure(failed);
            goto done;
        }
        rows.indptr[i + 1] = rows.size;
    }
    result = rows_to_python(&rows, n, 0);
done:
    rows_free(&rows);
    PyMem_RawFree(hashes.items);
    PyMem_RawFree(spare.items);
    return result;
}

/* ---- shape_counts --------------------------------------------------------- */

/* The columns shape_counts returns, in this order (classifier.shape names them). */
enum {
    C_ALPHA, C_UPPER, C_LOWER, C_DIGIT, C_SPACE, C_WORDCHAR, C_PUNCT, C_SEPARATOR, C_COPYRIGHT,
    C_TITLE_WORDS, C_WORDS, C_FUNCTION_WORDS, C_GLUED, C_SENTENCE_ENDS, C_TERMINAL, C_BULLET,
    C_URL, N_COUNTS
};

/* The columns shape_columns returns, in this order (classifier.shape.SHAPE_COLUMNS),
 * the cue columns last; and the log1p columns it is given. */
enum {
    S_LOG_CHARS, S_LOG_WORDS, S_MEAN_WORD_LEN, S_UPPER_SHARE, S_TITLE_SHARE, S_DIGIT_SHARE,
    S_PUNCT_SHARE, S_ENDS_TERMINAL, S_ENDS_COLON, S_FUNCTION_SHARE, S_GLUED, S_SEPARATORS,
    S_BULLET, S_COPYRIGHT, S_LOG_SENTENCES, S_URL, S_ALL_CAPS, S_CUES
};
#define N_CUE_LABELS 4
#define N_SHAPE (S_CUES + N_CUE_LABELS)
enum { LOG_CHARS, LOG_WORDS, LOG_SENTENCES, N_LOGS };

#define PACKED_BYTES 8

static int is_function_word(int kind, const void *text, int64_t a, int64_t b,
                            const uint64_t *keys, Py_ssize_t n_keys) {
    uint8_t packed[PACKED_BYTES] = {0};
    int used = 0;
    for (int64_t p = a; p < b; p++) {
        uint8_t bytes[4];
        int k = utf8(PyUnicode_READ(kind, text, p), bytes);
        if (used + k > PACKED_BYTES) return 0;
        memcpy(packed + used, bytes, k);
        used += k;
    }
    uint64_t key = 0;
    for (int k = PACKED_BYTES - 1; k >= 0; k--) key = (key << 8) | packed[k];  /* little-endian */
    Py_ssize_t lo = 0, hi = n_keys;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (keys[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < n_keys && keys[lo] == key;
}

/* Whether _URL (https?://|www\.|@\w+\.\w) matches at p. */
static int url_at(int kind, const void *t, Py_ssize_t p, Py_ssize_t n) {
#define AT(i) ((i) < n ? PyUnicode_READ(kind, t, (i)) : 0)
    Py_UCS4 c = AT(p);
    if (c == 'h') {
        if (AT(p + 1) != 't' || AT(p + 2) != 't' || AT(p + 3) != 'p') return 0;
        Py_ssize_t q = p + 4;
        if (AT(q) == 's') q++;
        return AT(q) == ':' && AT(q + 1) == '/' && AT(q + 2) == '/';
    }
    if (c == 'w') return AT(p + 1) == 'w' && AT(p + 2) == 'w' && AT(p + 3) == '.';
    if (c == '@') {
        Py_ssize_t q = p + 1;
        while (q < n && is_word(AT(q))) q++;
        return q > p + 1 && AT(q) == '.' && q + 1 < n && is_word(AT(q + 1));
    }
    return 0;
#undef AT
}

static const char shape_counts_doc[] =
    "shape_counts(text, lowered, starts, lengths, function_keys, separators,\n"
    "             copyright, terminals, closers, bullet_marks) -> bytearray\n\n"
    "Per line, 17 float64 counts (classifier.shape.COMPILED_COUNTS names\n"
    "them): the line's characters (and the newline after it) in each class,\n"
    "its title-case words, words and function words, glued lower/upper pairs,\n"
    "sentence ends and terminal ends, and whether it starts with a bullet and\n"
    "holds a URL. function_keys are the function words' UTF-8 bytes packed\n"
    "little-endian into sorted uint64s.";

static PyObject *shape_counts(PyObject *self, PyObject *args) {
    PyObject *text_obj, *lowered, *starts_obj, *lengths_obj, *keys_obj;
    PyObject *separators, *copyright, *terminals, *closers, *bullet_marks;
    if (!PyArg_ParseTuple(args, "UUOOOUUUUU", &text_obj, &lowered, &starts_obj, &lengths_obj,
                          &keys_obj, &separators, &copyright, &terminals, &closers, &bullet_marks))
        return NULL;
    Py_ssize_t n_chars = PyUnicode_GET_LENGTH(text_obj);
    if (PyUnicode_GET_LENGTH(lowered) != n_chars) {
        PyErr_SetString(PyExc_ValueError, "the lower-cased text must be as long as the text");
        return NULL;
    }
    Py_buffer sv, lv, kv;
    PyObject *result = NULL;
    if (get_array(starts_obj, &sv, 8, "lq", -1, "starts") < 0) return NULL;
    Py_ssize_t n = sv.shape[0];
    if (get_array(lengths_obj, &lv, 8, "lq", n, "lengths") < 0) goto release_s;
    if (get_array(keys_obj, &kv, 8, "LQ", -1, "function_keys") < 0) goto release_l;
    const int64_t *starts = sv.buf, *lengths = lv.buf;
    const uint64_t *keys = kv.buf;
    Py_ssize_t n_keys = kv.shape[0];
    if (check_lines(starts, lengths, n, n_chars) < 0) goto release;
    char *data;
    result = new_bytearray(n * N_COUNTS * sizeof(double), &data);
    if (!result) goto release;
    double *counts = (double *)data;
    memset(counts, 0, n * N_COUNTS * sizeof(double));
    int kind = PyUnicode_KIND(text_obj), lkind = PyUnicode_KIND(lowered);
    const void *t = PyUnicode_DATA(text_obj), *low = PyUnicode_DATA(lowered);
#define T(i) PyUnicode_READ(kind, t, (i))
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        double *row = counts + i * N_COUNTS;
        /* A line's characters run to the next line's start (its newline and
         * anything between), as np.add.reduceat over the starts sums them. */
        int64_t a = starts[i];
        int64_t next = i + 1 < n ? starts[i + 1] : n_chars;
        int previous_word = 0;
        for (int64_t p = a; p < next; p++) {
            Py_UCS4 c = T(p);
            uint8_t k = classes(c);
            int word = (k & K_WORD) != 0, punct = !(k & (K_ALNUM | K_SPACE));
            row[C_ALPHA] += (k & K_ALPHA) != 0;
            row[C_UPPER] += (k & K_UPPER) != 0;
            row[C_LOWER] += (k & K_LOWER) != 0;
            row[C_DIGIT] += (k & K_DIGIT) != 0;
            row[C_SPACE] += (k & K_SPACE) != 0;
            row[C_WORDCHAR] += word;
            row[C_PUNCT] += punct;
            /* The listed characters are all punctuation; only those are looked for. */
            if (punct) {
                row[C_SEPARATOR] += in_chars(c, separators);
                row[C_COPYRIGHT] += in_chars(c, copyright);
            }
            row[C_TITLE_WORDS] += word && !previous_word && (k & K_UPPER);
            previous_word = word;
            /* _GLUED: an ASCII lower-case letter, then an upper-case one. */
            if (c >= 'a' && c <= 'z' && p + 1 < n_chars) {
                Py_UCS4 d = T(p + 1);
                row[C_GLUED] += d >= 'A' && d <= 'Z';
            }
            /* _SENTENCE_END / _TERMINAL: a mark, closers, then a space or the line's end. */
            if (punct && p + 1 < n_chars && in_chars(c, terminals)) {
                int64_t f = p + 1;
                while (f < n_chars && in_chars(T(f), closers)) f++;
                Py_UCS4 follower = f < n_chars ? T(f) : 0;
                row[C_SENTENCE_ENDS] += (classes(follower) & K_SPACE) != 0;
                row[C_TERMINAL] += follower == '\n';
            }
            if ((c == '@' || c == 'h' || c == 'w') && url_at(kind, t, p, n_chars)) row[C_URL] = 1;
        }
        /* Words of the lower-cased text (word_spans), and which are function words. */
        for (int64_t p = a; p < next;) {
            if (!is_word(PyUnicode_READ(lkind, low, p))) {
                p++;
                continue;
            }
            int64_t w = p;
            while (p < next && is_word(PyUnicode_READ(lkind, low, p))) p++;
            row[C_WORDS] += 1;
            row[C_FUNCTION_WORDS] += is_function_word(lkind, low, w, p, keys, n_keys);
        }
        /* _BULLET: a mark, or one or two decimal digits and "." or ")", then
         * a space that is not a newline. */
        Py_UCS4 head[4];
        for (int k = 0; k < 4; k++) head[k] = a + k < n_chars ? T(a + k) : 0;
#define SPACED(k) (a + (k) < n_chars && (classes(head[k]) & K_SPACE) && head[k] != '\n')
#define DECIMAL(k) ((head[k] >= '0' && head[k] <= '9') || (head[k] > 127 && (classes(head[k]) & K_DECIMAL)))
#define CLOSES(k) (head[k] == '.' || head[k] == ')')
        row[C_BULLET] = (head[0] && in_chars(head[0], bullet_marks) && SPACED(1))
                        || (DECIMAL(0) && CLOSES(1) && SPACED(2))
                        || (DECIMAL(0) && DECIMAL(1) && CLOSES(2) && SPACED(3));
#undef SPACED
#undef DECIMAL
#undef CLOSES
    }
    Py_END_ALLOW_THREADS
#undef T
release:
    PyBuffer_Release(&kv);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
    return result;
}

/* ---- cue_hits ------------------------------------------------------------- */

/* The cue phrases as a prefix tree the caller built (classifier.shape): node
 * 0 is the root; every node has a label (-1 where no phrase ends) and its
 * children, sorted by character, at [child_start[node], child_start[node+1])
 * of child_char / child_node. */
typedef struct {
    const int32_t *label, *child_start, *child_char, *child_node;
    Py_ssize_t n_nodes, n_children, n_labels;
    /* The node after two ASCII characters, or -1: most places in a text
     * start no phrase, and this tells so in one lookup. */
    int32_t ascii_root[128];
    int32_t ascii_pair[128 * 128];
} Trie;

static int check_trie(Trie *t) {
    const char *problem = NULL;
    if (t->n_nodes < 1 || t->child_start[0] != 0 || t->child_start[t->n_nodes] != t->n_children)
        problem = "child offsets do not cover the children";
    for (Py_ssize_t i = 0; !problem && i < t->n_nodes; i++) {
        if (t->child_start[i] > t->child_start[i + 1]) problem = "child offsets decrease";
        else if (t->label[i] < -1 || t->label[i] >= t->n_labels) problem = "a node's label is out of range";
    }
    for (Py_ssize_t k = 0; !problem && k < t->n_children; k++)
        if (t->child_node[k] < 1 || t->child_node[k] >= t->n_nodes) problem = "a child names no node";
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        return -1;
    }
    for (int c = 0; c < 128; c++) t->ascii_root[c] = -1;
    for (int c = 0; c < 128 * 128; c++) t->ascii_pair[c] = -1;
    for (int32_t k = t->child_start[0]; k < t->child_start[1]; k++) {
        int32_t a = t->child_char[k], node = t->child_node[k];
        if (a < 0 || a >= 128) continue;
        t->ascii_root[a] = node;
        for (int32_t j = t->child_start[node]; j < t->child_start[node + 1]; j++)
            if (t->child_char[j] >= 0 && t->child_char[j] < 128)
                t->ascii_pair[a * 128 + t->child_char[j]] = t->child_node[j];
    }
    return 0;
}

static inline int32_t trie_child(const Trie *t, int32_t node, Py_UCS4 c) {
    if (node == 0 && c < 128) return t->ascii_root[c];
    for (int32_t k = t->child_start[node], end = t->child_start[node + 1]; k < end; k++) {
        if ((Py_UCS4)t->child_char[k] == c) return t->child_node[k];
        if ((Py_UCS4)t->child_char[k] > c) break;
    }
    return -1;
}

static const char cue_hits_doc[] =
    "cue_hits(lowered, starts, lengths, label, child_start, child_char,\n"
    "         child_node, n_labels) -> bytearray\n\n"
    "Per line, n_labels float64 counts of the cue phrases found on it, by the\n"
    "label of each (the finditer matches of classifier.shape's pattern: at\n"
    "each place the longest phrase that starts there, then on from its end).\n"
    "The phrases come as a prefix tree of int32 arrays (see\n"
    "classifier.shape._cue_trie).";

static PyObject *cue_hits(PyObject *self, PyObject *args) {
    PyObject *lowered, *objs[6];
    Py_ssize_t n_labels;
    if (!PyArg_ParseTuple(args, "UOOOOOOn", &lowered, &objs[0], &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &n_labels))
        return NULL;
    static const char *names[6] = {"starts", "lengths", "label", "child_start", "child_char",
                                   "child_node"};
    Py_buffer v[6];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 6; got++) {
        int wide = got < 2;
        if (get_array(objs[got], &v[got], wide ? 8 : 4, wide ? "lq" : "i", -1, names[got]) < 0)
            goto release;
    }
    Py_ssize_t n = v[0].shape[0];
    Trie t;  /* not zeroed: check_trie fills its tables */
    t.label = v[2].buf;
    t.child_start = v[3].buf;
    t.child_char = v[4].buf;
    t.child_node = v[5].buf;
    t.n_nodes = v[2].shape[0];
    t.n_children = v[4].shape[0];
    t.n_labels = n_labels;
    if (v[1].shape[0] != n || v[3].shape[0] != t.n_nodes + 1 || v[5].shape[0] != t.n_children
        || n_labels < 1) {
        PyErr_SetString(PyExc_ValueError, "cue_hits: arrays of mismatched sizes");
        goto release;
    }
    const int64_t *starts = v[0].buf, *lengths = v[1].buf;
    if (check_lines(starts, lengths, n, PyUnicode_GET_LENGTH(lowered)) < 0 || check_trie(&t) < 0)
        goto release;
    char *data;
    result = new_bytearray(n * n_labels * sizeof(double), &data);
    if (!result) goto release;
    double *counts = (double *)data;
    memset(counts, 0, n * n_labels * sizeof(double));
    int kind = PyUnicode_KIND(lowered);
    const void *text = PyUnicode_DATA(lowered);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        /* No phrase holds a newline, so none runs past its line. */
        int64_t end = starts[i] + lengths[i];
        for (int64_t p = starts[i]; p < end;) {
            Py_UCS4 c = PyUnicode_READ(kind, text, p);
            Py_UCS4 d = p + 1 < end ? PyUnicode_READ(kind, text, p + 1) : 0xFFFFFFFF;
            int32_t node, label = -1;
            int64_t match_end = p, q;
            if (c < 128 && d < 128) {  /* the two-character table, then the tree */
                node = t.ascii_pair[c * 128 + d];
                int32_t first = t.ascii_root[c];
                if (first > 0 && t.label[first] >= 0) {
                    label = t.label[first];
                    match_end = p + 1;
                }
                q = p + 2;
            } else {
                node = trie_child(&t, 0, c);
                q = p + 1;
            }
            while (node > 0) {
                if (t.label[node] >= 0) {
                    label = t.label[node];
                    match_end = q;
                }
                if (q >= end) break;
                node = trie_child(&t, node, PyUnicode_READ(kind, text, q));
                q++;
            }
            if (label >= 0) {
                counts[i * n_labels + label] += 1;
                p = match_end;
            } else {
                p++;
            }
        }
    }
    Py_END_ALLOW_THREADS
release:
    for (int k = 0; k < got; k++) PyBuffer_Release(&v[k]);
    return result;
}

/* ---- shape_columns and dense_block ------------------------------------------ */

/* A one-dimensional float64 buffer of n items. */
static int get_doubles(PyObject *obj, Py_buffer *view, Py_ssize_t n, const char *name) {
    return get_array(obj, view, 8, "d", n, name);
}

static double at_most(double limit, double x) { return x < limit ? x : limit; }
static double at_least(double limit, double x) { return x > limit ? x : limit; }

static const char shape_columns_doc[] =
    "shape_columns(counts, cues, logs, text, starts, lengths, limits) -> bytearray\n\n"
    "Per line, the float64 columns of classifier.shape.SHAPE_COLUMNS, from\n"
    "shape_counts' counts and cue_hits' hits (flattened), and `logs`: per line,\n"
    "numpy's log1p of its length, its words and its sentence ends (numpy's\n"
    "log1p may differ from the C library's in the last bit). limits are\n"
    "(MAX_MEAN_WORD_LEN, MEAN_WORD_LEN_SCALE, MAX_GLUED, MAX_SEPARATORS, MAX_CUES,\n"
    "MIN_LETTERS_ALL_CAPS).";

static PyObject *shape_columns(PyObject *self, PyObject *args) {
    PyObject *counts_obj, *cues_obj, *logs_obj, *text_obj, *starts_obj, *lengths_obj;
    double max_word_len, word_len_scale, max_glued, max_separators, max_cues, min_caps;
    if (!PyArg_ParseTuple(args, "OOOUOO(dddddd)", &counts_obj, &cues_obj, &logs_obj, &text_obj,
                          &starts_obj, &lengths_obj, &max_word_len, &word_len_scale, &max_glued,
                          &max_separators, &max_cues, &min_caps))
        return NULL;
    Py_buffer sv, lv, cv, qv, gv;
    PyObject *result = NULL;
    if (get_array(starts_obj, &sv, 8, "lq", -1, "starts") < 0) return NULL;
    Py_ssize_t n = sv.shape[0];
    if (get_array(lengths_obj, &lv, 8, "lq", n, "lengths") < 0) goto release_s;
    if (get_doubles(counts_obj, &cv, n * N_COUNTS, "counts") < 0) goto release_l;
    if (get_doubles(cues_obj, &qv, n * N_CUE_LABELS, "cues") < 0) goto release_c;
    if (get_doubles(logs_obj, &gv, n * N_LOGS, "logs") < 0) goto release_q;
    const int64_t *starts = sv.buf, *lengths = lv.buf;
    if (check_lines(starts, lengths, n, PyUnicode_GET_LENGTH(text_obj)) < 0) goto release;
    char *data;
    result = new_bytearray(n * N_SHAPE * sizeof(double), &data);
    if (!result) goto release;
    double *out = (double *)data;
    const double *counts = cv.buf, *cues = qv.buf, *logs = gv.buf;
    int kind = PyUnicode_KIND(text_obj);
    const void *text = PyUnicode_DATA(text_obj);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const double *c = counts + i * N_COUNTS, *log = logs + i * N_LOGS;
        double *row = out + i * N_SHAPE;
        double chars = (double)lengths[i], words = c[C_WORDS];
        double some_words = at_least(1.0, words), some_chars = at_least(1.0, chars);
        row[S_LOG_CHARS] = log[LOG_CHARS];
        row[S_LOG_WORDS] = log[LOG_WORDS];
        row[S_MEAN_WORD_LEN] = at_most(max_word_len, c[C_WORDCHAR] / some_words) / word_len_scale
                               * (words > 0 ? 1.0 : 0.0);
        row[S_UPPER_SHARE] = c[C_UPPER] / at_least(1.0, c[C_ALPHA]);
        row[S_TITLE_SHARE] = c[C_TITLE_WORDS] / some_words;
        row[S_DIGIT_SHARE] = c[C_DIGIT] / some_chars;
        row[S_PUNCT_SHARE] = c[C_PUNCT] / some_chars;
        row[S_ENDS_TERMINAL] = at_most(1.0, c[C_TERMINAL]);
        row[S_ENDS_COLON] = lengths[i] > 0
            && PyUnicode_READ(kind, text, starts[i] + lengths[i] - 1) == ':';
        row[S_FUNCTION_SHARE] = c[C_FUNCTION_WORDS] / some_words;
        row[S_GLUED] = at_most(max_glued, c[C_GLUED]) / max_glued;
        row[S_SEPARATORS] = at_most(max_separators, c[C_SEPARATOR]) / max_separators;
        row[S_BULLET] = c[C_BULLET];
        row[S_COPYRIGHT] = at_most(1.0, c[C_COPYRIGHT]);
        row[S_LOG_SENTENCES] = log[LOG_SENTENCES];
        row[S_URL] = c[C_URL];
        row[S_ALL_CAPS] = c[C_ALPHA] >= min_caps && c[C_LOWER] == 0;
        for (int k = 0; k < N_CUE_LABELS; k++)
            row[S_CUES + k] = at_most(max_cues, cues[i * N_CUE_LABELS + k]) / max_cues;
    }
    Py_END_ALLOW_THREADS
release:
    PyBuffer_Release(&gv);
release_q:
    PyBuffer_Release(&qv);
release_c:
    PyBuffer_Release(&cv);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
    return result;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char dense_block_doc[] =
    "dense_block(shape, lengths, log_sizes, gap_before, markup, first, end, offsets,\n"
    "            run_window, link_column) -> bytearray\n\n"
    "The dense block Featurizer._dense assembles, as float32 (lines x columns):\n"
    "each line's shape columns, its page columns, its markup columns, the shape,\n"
    "gap and link density of the lines at each of `offsets` within its page\n"
    "(zeros past its ends), and the means over +-run_window lines of its ends-\n"
    "terminal, function-share, log-length and link-density columns. shape and\n"
    "markup come flattened (shape_columns' columns; markup's link density at\n"
    "link_column); first and end are each line's page's first line and one\n"
    "past its last; log_sizes is numpy's log1p of each line's page's line count.\n"
    "Sums, means and the median are made in numpy's order, so the numbers are\n"
    "its own.";

/* The ends-terminal, function-share and log-length shape columns, then link
 * density: the run's columns. */
#define N_RUN 4
#define N_PAGE 9

static PyObject *dense_block(PyObject *self, PyObject *args) {
    PyObject *objs[7], *offsets_obj;
    Py_ssize_t run_window, link_column;
    if (!PyArg_ParseTuple(args, "OOOOOOOOnn", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4],
                          &objs[5], &objs[6], &offsets_obj, &run_window, &link_column))
        return NULL;
    enum { SHAPE, LENGTHS, LOG_SIZES, GAPS, MARKUP, FIRST, END };
    static const char *names[7] = {"shape", "lengths", "log_sizes", "gap_before", "markup",
                                   "first", "end"};
    Py_buffer v[7];
    int got = 0;
    PyObject *result = NULL;
    double *scratch = NULL;
    Py_ssize_t n_offsets = 0, offsets[8];
    PyObject *seq = PySequence_Fast(offsets_obj, "offsets must be a sequence of ints");
    if (!seq) return NULL;
    n_offsets = PySequence_Fast_GET_SIZE(seq);
    if (n_offsets > 8) {
        PyErr_SetString(PyExc_ValueError, "at most 8 neighbour offsets");
        goto release;
    }
    for (Py_ssize_t k = 0; k < n_offsets; k++) {
        offsets[k] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k));
        if (offsets[k] == -1 && PyErr_Occurred()) goto release;
    }
    for (; got < 7; got++) {
        int ints = got == LENGTHS || got == FIRST || got == END;
        if (get_array(objs[got], &v[got], 8, ints ? "lq" : "d", -1, names[got]) < 0)
            goto release;
    }
    Py_ssize_t n = v[LENGTHS].shape[0];
    Py_ssize_t n_markup = n ? v[MARKUP].shape[0] / n : 0;
    if (v[SHAPE].shape[0] != n * N_SHAPE || v[LOG_SIZES].shape[0] != n || v[GAPS].shape[0] != n
        || v[FIRST].shape[0] != n || v[END].shape[0] != n || v[MARKUP].shape[0] != n * n_markup
        || link_column < 0 || (n && link_column >= n_markup) || run_window < 0) {
        PyErr_SetString(PyExc_ValueError, "dense_block: arrays of mismatched sizes");
        goto release;
    }
    const double *shape = v[SHAPE].buf, *log_sizes = v[LOG_SIZES].buf, *gaps = v[GAPS].buf,
                 *markup = v[MARKUP].buf;
    const int64_t *lengths = v[LENGTHS].buf, *first = v[FIRST].buf, *end = v[END].buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* Pages one after another, each line with its own page's bounds. */
        int same_page = i > 0 && first[i] == first[i - 1] && end[i] == end[i - 1];
        int new_page = first[i] == i && (i == 0 || end[i - 1] == i);
        if (end[i] <= i || end[i] > n || !(same_page || new_page)) {
            PyErr_SetString(PyExc_ValueError, "dense_block: pages' bounds do not fit the lines");
            goto release;
        }
    }
    Py_ssize_t n_neighbour = N_SHAPE + 2;
    Py_ssize_t width = N_SHAPE + N_PAGE + n_markup + n_offsets * n_neighbour + N_RUN;
    char *data;
    result = new_bytearray(n * width * sizeof(float), &data);
    if (!result) goto release;
    float *out = (float *)data;
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Per page: the lengths sorted (the median), then the run's cumulative sums. */
    scratch = PyMem_RawMalloc((n + 1) * (N_RUN + 1) * sizeof(double));
    if (!scratch) failed = 1;
    for (Py_ssize_t a = 0; !failed && a < n;) {
        Py_ssize_t b = end[a], m = b - a;
        double *sorted = scratch, *cumulative = scratch + m;
        double longest = 0, gap_sum = 0;
        for (Py_ssize_t i = a; i < b; i++) {
            sorted[i - a] = (double)lengths[i];
            if (i == a || sorted[i - a] > longest) longest = sorted[i - a];
            gap_sum += gaps[i];  /* 0 or 1: exact in any order */
        }
        qsort(sorted, m, sizeof(double), compare_doubles);
        double median = m % 2 ? sorted[m / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
        median = at_least(1.0, median);
        double gap_share = gap_sum / (double)m;
        for (int k = 0; k < N_RUN; k++) cumulative[k] = 0;
        for (Py_ssize_t i = a; i < b; i++) {
            const double *s = shape + i * N_SHAPE;
            double run[N_RUN] = {s[S_ENDS_TERMINAL], s[S_FUNCTION_SHARE], s[S_LOG_CHARS],
                                 markup[i * n_markup + link_column]};
            double *c = cumulative + (i - a + 1) * N_RUN;
            for (int k = 0; k < N_RUN; k++) c[k] = c[k - N_RUN] + run[k];
        }
        for (Py_ssize_t i = a; i < b; i++) {
            float *row = out + i * width;
            const double *s = shape + i * N_SHAPE;
            Py_ssize_t col = 0, local = i - a;
            for (int k = 0; k < N_SHAPE; k++) row[col++] = (float)s[k];
            double chars = (double)lengths[i];
            double position = (double)local / (double)(m - 1 > 1 ? m - 1 : 1);
            row[col++] = (float)position;
            row[col++] = (float)log_sizes[i];
            row[col++] = position == 0;
            row[col++] = local == m - 1;
            row[col++] = (float)gaps[i];
            row[col++] = i + 1 < b ? (float)gaps[i + 1] : 0.0f;
            row[col++] = (float)gap_share;
            row[col++] = (float)(chars / longest);
            row[col++] = (float)(at_most(5.0, chars / median) / 5);
            for (Py_ssize_t k = 0; k < n_markup; k++) row[col++] = (float)markup[i * n_markup + k];
            for (Py_ssize_t o = 0; o < n_offsets; o++) {
                Py_ssize_t j = i + offsets[o];
                if (j >= a && j < b) {
                    const double *t = shape + j * N_SHAPE;
                    for (int k = 0; k < N_SHAPE; k++) row[col++] = (float)t[k];
                    row[col++] = (float)gaps[j];
                    row[col++] = (float)markup[j * n_markup + link_column];
                } else {
                    for (Py_ssize_t k = 0; k < n_neighbour; k++) row[col++] = 0.0f;
                }
            }
            Py_ssize_t lo = local - run_window, hi = local + run_window + 1;
            lo = lo < 0 ? 0 : lo;
            hi = hi > m ? m : hi;
            for (int k = 0; k < N_RUN; k++)
                row[col++] = (float)((cumulative[hi * N_RUN + k] - cumulative[lo * N_RUN + k])
                                     / (double)(hi - lo));
        }
        a = b;
    }
    PyMem_RawFree(scratch);
    Py_END_ALLOW_THREADS
    if (failed) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
release:
    for (int k = 0; k < got; k++) PyBuffer_Release(&v[k]);
    Py_DECREF(seq);
    return result;
}

/* ---- subtree_sums ------------------------------------------------------------ */

static const char subtree_sums_doc[] =
    "subtree_sums(parents, mass, total, lines, main_margin) -> (sums, main, in_main)\n\n"
    "For classifier.containers: each element's mass, total and lines summed\n"
    "over its subtree, as float64 (3 x elements), in the order its loop adds\n"
    "them (from the last element up, each into its parent; parents, int64, are\n"
    "numbered before their children, the root 0 with parent -1); the main\n"
    "element, the first with the most mass - main_margin * total; and whether\n"
    "each element lies under it (uint8).";

static PyObject *subtree_sums(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    double margin;
    if (!PyArg_ParseTuple(args, "OOOOd", &objs[0], &objs[1], &objs[2], &objs[3], &margin))
        return NULL;
    static const char *names[4] = {"parents", "mass", "total", "lines"};
    Py_buffer v[4];
    int got = 0;
    PyObject *sums_obj = NULL, *in_main_obj = NULL, *result = NULL;
    for (; got < 4; got++)
        if (get_array(objs[got], &v[got], 8, got ? "d" : "lq", got ? v[0].shape[0] : -1,
                      names[got]) < 0)
            goto release;
    Py_ssize_t size = v[0].shape[0];
    const int64_t *parents = v[0].buf;
    for (Py_ssize_t e = 0; e < size; e++)
        if (e ? parents[e] < 0 || parents[e] >= e : parents[e] != -1) {
            PyErr_SetString(PyExc_ValueError,
                            "subtree_sums: each element's parent must come before it, the root's be -1");
            goto release;
        }
    char *data, *flags;
    sums_obj = new_bytearray(3 * size * sizeof(double), &data);
    in_main_obj = new_bytearray(size, &flags);
    if (!sums_obj || !in_main_obj) goto release;
    double *sums = (double *)data;
    for (int k = 0; k < 3; k++) memcpy(sums + k * size, v[k + 1].buf, size * sizeof(double));
    double *mass = sums, *total = sums + size;
    Py_ssize_t main = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t e = size - 1; e > 0; e--)
        for (int k = 0; k < 3; k++) sums[k * size + parents[e]] += sums[k * size + e];
    /* np.argmax: the first of the largest (NaN, never here, aside). */
    double best = 0;
    for (Py_ssize_t e = 0; e < size; e++) {
        double gain = margin * total[e];
        gain = mass[e] - gain;
        if (e == 0 || gain > best) {
            best = gain;
            main = e;
        }
    }
    for (Py_ssize_t e = 0; e < size; e++) flags[e] = 0;
    if (size) flags[main] = 1;
    for (Py_ssize_t e = main + 1; e < size; e++)
        if (flags[parents[e]]) flags[e] = 1;
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("OnO", sums_obj, main, in_main_obj);
release:
    Py_XDECREF(sums_obj);
    Py_XDECREF(in_main_obj);
    for (int k = 0; k < got; k++) PyBuffer_Release(&v[k]);
    return result;
}

/* ---- index_distinct -------------------------------------------------------- */

static const char index_distinct_doc[] =
    "index_distinct(iterable) -> (distinct, which)\n\n"
    "The distinct values of the iterable in the order first met (a list), and\n"
    "for each value the index of its own among them (bytearray of Py_ssize_t).";

static PyObject *index_distinct(PyObject *self, PyObject *iterable) {
    PyObject *it = PyObject_GetIter(iterable);
    if (!it) return NULL;
    PyObject *index = PyDict_New(), *distinct = PyList_New(0), *result = NULL, *item;
    Py_ssize_t *which = NULL, size = 0, capacity = 0;
    if (!index || !distinct) goto release;
    while ((item = PyIter_Next(it)) != NULL) {
        Py_ssize_t k;
        PyObject *at = PyDict_GetItemWithError(index, item);  /* borrowed */
        if (at) {
            k = PyLong_AsSsize_t(at);
        } else if (PyErr_Occurred()) {
            k = -1;
        } else {
            k = PyList_GET_SIZE(distinct);
            PyObject *number = PyLong_FromSsize_t(k);
            if (!number || PyDict_SetItem(index, item, number) < 0 || PyList_Append(distinct, item) < 0)
                k = -1;
            Py_XDECREF(number);
        }
        Py_DECREF(item);
        if (k < 0) goto release;
        if (size == capacity) {
            capacity = capacity ? 2 * capacity : 256;
            Py_ssize_t *grown = PyMem_Realloc(which, capacity * sizeof(Py_ssize_t));
            if (!grown) {
                PyErr_NoMemory();
                goto release;
            }
            which = grown;
        }
        which[size++] = k;
    }
    if (PyErr_Occurred()) goto release;
    PyObject *which_obj = PyByteArray_FromStringAndSize((const char *)which, size * sizeof(Py_ssize_t));
    if (which_obj) {
        result = PyTuple_Pack(2, distinct, which_obj);
        Py_DECREF(which_obj);
    }
release:
    PyMem_Free(which);
    Py_XDECREF(index);
    Py_XDECREF(distinct);
    Py_DECREF(it);
    return result;
}

static PyMethodDef methods[] = {
    {"text_block", text_block, METH_VARARGS, text_block_doc},
    {"shape_counts", shape_counts, METH_VARARGS, shape_counts_doc},
    {"markup_block", markup_block, METH_VARARGS, markup_block_doc},
    {"cue_hits", cue_hits, METH_VARARGS, cue_hits_doc},
    {"shape_columns", shape_columns, METH_VARARGS, shape_columns_doc},
    {"dense_block", dense_block, METH_VARARGS, dense_block_doc},
    {"subtree_sums", subtree_sums, METH_VARARGS, subtree_sums_doc},
    {"index_distinct", index_distinct, METH_O, index_distinct_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "classifier._features",
    "A page's per-line text features in compiled code (see classifier.features).", -1, methods,
};

PyMODINIT_FUNC PyInit__features(void) {
    make_crc_table();
    make_class_table();
    return PyModule_Create(&module);
}
