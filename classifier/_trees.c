/* Stage 2's tree ensemble in compiled code, by leaf elimination.
 *
 * classifier.fastpredict.TreeStage explains leaf elimination: a split whose
 * test sends a row right rules out the leaves of its left subtree, and the
 * leaf the row reaches is the leftmost leaf not ruled out. Here every split of
 * every tree is listed by feature and, within a feature, by threshold. Rows
 * are scored BLOCK at a time: for each feature, the block goes through its
 * splits in increasing threshold until one sends every row of the block left
 * (every later one would too), and each split is tested on all the block's
 * rows at once, in vector instructions, ORing its bit mask into the trees'
 * ruled-out leaves of the rows it sends right. Then per row and tree, one
 * count of trailing ones and a lookup. There is no walk from node to node,
 * and where a feature's scan stops (the one branch the processor cannot
 * predict) is decided once per block, not per row: one row at a time, that
 * branch cost more than the scan (0.83 against 0.46 ms for a page's 280 rows).
 *
 * Leaf values are added to a row's scores in the trees' order, as scikit-learn
 * does, so the sums round the same way.
 *
 * The arrays come in through the buffer protocol (numpy arrays laid out by
 * the caller), so building this needs no numpy headers. Every table is checked
 * before use (offsets in range and increasing, tree numbers in range, masks
 * inside their tree's leaves and never ruling out its last one), so a
 * malformed table is a ValueError, never a read out of bounds. The GIL is
 * released while scoring, so the server's other threads keep going.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEAVES 64   /* a tree's leaves must fit the bits of a uint64_t mask */

typedef struct {
    const double *threshold;      /* per split, by feature then threshold */
    const int32_t *tree;          /* per split */
    const uint64_t *mask;         /* per split: the leaves of its left subtree */
    const uint8_t *missing_left;  /* per split: NaN goes left */
    const int64_t *feature_start; /* n_features + 1: feature f's splits */
    const int64_t *leaf_start;    /* n_trees + 1: tree t's leaf values */
    const double *leaf_value;
    Py_ssize_t n_splits, n_features, n_trees, n_classes;
} Forest;

static int check_forest(const Forest *f) {
    const char *problem = NULL;
    if (f->feature_start[0] != 0 || f->feature_start[f->n_features] != f->n_splits)
        problem = "split offsets do not cover the splits";
    for (Py_ssize_t i = 0; !problem && i < f->n_features; i++)
        if (f->feature_start[i] > f->feature_start[i + 1]) problem = "split offsets decrease";
    for (Py_ssize_t t = 0; !problem && t < f->n_trees; t++) {
        int64_t leaves = f->leaf_start[t + 1] - f->leaf_start[t];
        if (leaves < 1 || leaves > MAX_LEAVES) problem = "a tree has no leaves or too many";
    }
    for (Py_ssize_t s = 0; !problem && s < f->n_splits; s++) {
        int32_t t = f->tree[s];
        if (t < 0 || t >= f->n_trees) {
            problem = "a split names no tree";
            break;
        }
        /* Only leaves below the last may be ruled out, so a leaf is always left. */
        int64_t leaves = f->leaf_start[t + 1] - f->leaf_start[t];
        if (f->mask[s] >> (leaves - 1)) problem = "a split's mask reaches its tree's last leaf";
    }
    if (!problem && f->leaf_start[0] != 0) problem = "leaf offsets do not start at 0";
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        return -1;
    }
    return 0;
}

/* A block of 8 rows scans about 25% more splits than its rows would one by
 * one, and is still faster; 16 gained nothing more. */
#define BLOCK 8
/* Rows per vector, in GCC's vector types: two doubles fill the 128-bit
 * registers every x86-64 and arm64 processor has. Wider vectors where the
 * build does not enable them are emulated, and ran twice as slow as scalar
 * code. */
#define LANES 2
typedef double Values __attribute__((vector_size(LANES * sizeof(double))));
typedef uint64_t Masks __attribute__((vector_size(LANES * sizeof(uint64_t))));

typedef struct {
    Values x[BLOCK / LANES];    /* the block's values of the current feature */
    uint64_t *ruled_out;        /* n_trees x BLOCK: ruled-out leaves, aligned for Masks */
} Scratch;

static void score_block(const Forest *f, const double *X, Py_ssize_t rows, Scratch *w,
                        double *scores) {
    uint64_t *ruled_out = w->ruled_out;
    memset(ruled_out, 0, (size_t)f->n_trees * BLOCK * sizeof(uint64_t));
    for (Py_ssize_t feature = 0; feature < f->n_features; feature++) {
        int64_t start = f->feature_start[feature], end = f->feature_start[feature + 1];
        if (start == end) continue;
        double highest = -INFINITY;
        int missing = 0;
        for (Py_ssize_t r = 0; r < BLOCK; r++) {
            double x = r < rows ? X[r * f->n_features + feature] : -INFINITY;
            /* NaN is sent below where each split learnt to send it; padding
             * rows and NaN take -inf here, which goes right at no split. */
            if (x != x) {
                missing = 1;
                x = -INFINITY;
            }
            w->x[r / LANES][r % LANES] = x;
            if (x > highest) highest = x;
        }
        for (int64_t s = start; s < end && highest > f->threshold[s]; s++) {
            const Values threshold = f->threshold[s] - (Values){0};
            const Masks mask = f->mask[s] + (Masks){0};
            Masks *out = (Masks *)(ruled_out + (size_t)f->tree[s] * BLOCK);
            for (int v = 0; v < BLOCK / LANES; v++) out[v] |= (Masks)(w->x[v] > threshold) & mask;
        }
        if (missing) {
            for (Py_ssize_t r = 0; r < rows; r++) {
                double x = X[r * f->n_features + feature];
                if (x == x) continue;
                for (int64_t s = start; s < end; s++)
                    if (!f->missing_left[s]) ruled_out[(size_t)f->tree[s] * BLOCK + r] |= f->mask[s];
            }
        }
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        double *row_scores = scores + r * f->n_classes;
        for (Py_ssize_t t = 0, k = 0; t < f->n_trees; t++, k = k + 1 == f->n_classes ? 0 : k + 1) {
            /* The lowest zero bit: check_forest made sure there is one. */
            int leaf = __builtin_ctzll(~ruled_out[(size_t)t * BLOCK + r]);
            row_scores[k] += f->leaf_value[f->leaf_start[t] + leaf];
        }
    }
}

static PyObject *add_scores(PyObject *self, PyObject *args) {
    Py_buffer b[9];  /* the seven tables, X, out */
    Py_ssize_t n_classes;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*w*n", &b[0], &b[1], &b[2], &b[3], &b[4],
                          &b[5], &b[6], &b[7], &b[8], &n_classes))
        return NULL;
    Forest f = {
        .threshold = b[0].buf, .tree = b[1].buf, .mask = b[2].buf, .missing_left = b[3].buf,
        .feature_start = b[4].buf, .leaf_start = b[5].buf, .leaf_value = b[6].buf,
        .n_splits = b[0].len / (Py_ssize_t)sizeof(double),
        .n_features = b[4].len / (Py_ssize_t)sizeof(int64_t) - 1,
        .n_trees = b[5].len / (Py_ssize_t)sizeof(int64_t) - 1,
        .n_classes = n_classes,
    };
    const double *X = b[7].buf;
    double *out = b[8].buf;
    uint64_t *ruled_out = NULL;
    if (n_classes <= 0 || f.n_features < 1 || f.n_trees < 1 || f.n_trees % n_classes
            || b[0].len % (Py_ssize_t)sizeof(double)
            || b[1].len != f.n_splits * (Py_ssize_t)sizeof(int32_t)
            || b[2].len != f.n_splits * (Py_ssize_t)sizeof(uint64_t)
            || b[3].len != f.n_splits
            || b[4].len % (Py_ssize_t)sizeof(int64_t) || b[5].len % (Py_ssize_t)sizeof(int64_t)
            || b[6].len % (Py_ssize_t)sizeof(double)
            || b[8].len % (Py_ssize_t)(n_classes * sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "tree tables or score array of the wrong size");
        goto done;
    }
    Py_ssize_t n_rows = b[8].len / (Py_ssize_t)(n_classes * sizeof(double));
    if (b[7].len != n_rows * f.n_features * (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "expected %zd rows of %zd features", n_rows, f.n_features);
        goto done;
    }
    if (check_forest(&f) < 0) goto done;
    if (f.leaf_start[f.n_trees] * (Py_ssize_t)sizeof(double) != b[6].len) {
        PyErr_SetString(PyExc_ValueError, "leaf offsets do not cover the leaf values");
        goto done;
    }
    ruled_out = aligned_alloc(sizeof(Masks), (size_t)f.n_trees * BLOCK * sizeof(uint64_t));
    if (!ruled_out) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    Scratch scratch = {.ruled_out = ruled_out};
    for (Py_ssize_t r = 0; r < n_rows; r += BLOCK)
        score_block(&f, X + r * f.n_features, n_rows - r < BLOCK ? n_rows - r : BLOCK,
                    &scratch, out + r * n_classes);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    free(ruled_out);
    for (int i = 0; i < 9; i++) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"add_scores", add_scores, METH_VARARGS,
     "add_scores(threshold, tree, mask, missing_left, feature_start, leaf_start, "
     "leaf_value, X, out, n_classes): add every tree's leaf value for every row "
     "of X (float64, rows x features) to out (float64, rows x n_classes); tree t "
     "scores class t % n_classes. The tables are described in _trees.c."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "classifier._trees",
    "Stage 2's tree ensemble scored in compiled code, by leaf elimination.", -1, methods,
};

PyMODINIT_FUNC PyInit__trees(void) {
    return PyModule_Create(&module);
}
