/* inmail_guard._speedups: optional C versions of three hot paths, each bit-identical to the pure
 * Python (or numpy) code it stands in for, which stays the fallback where this is not built:
 *
 * - Table: the classifier's compiled channel table (models/scorer.py);
 * - MinHash: the bulk detector's body fingerprint (plugins/bulk.py);
 * - agreements: the bulk detector's comparison of stored fingerprints (plugins/bulk.py).
 *
 * Table.
 *
 * The pure-Python scorer counts a message's feature keys with Counter and looks each one up in
 * a dict {key: (idf_sq, wx)}. On a 2-core VM that is memory-bound: a dict hit touches the hash
 * index, the entry, the key object, the value tuple and two float objects, scattered over the
 * ~20 MB a channel's 86k-entry table takes. Here a hit touches one 16-byte slot, the key object
 * (to confirm equality, exactly as dict does) and two adjacent doubles.
 *
 * Table(mapping) copies {key: (idf_sq, wx)}; Table.decision(keys, intercept, sublinear)
 * returns exactly what CompiledScorer.decision's Python loop returns for the same keys: the
 * same operations on the same doubles in the same order (entries seen once, in order of first
 * occurrence, then repeated ones in that order), so the two paths agree bit for bit.
 * tests/test_speedups.py checks that.
 *
 * Keys are hashed with PyObject_Hash and compared with PyObject_RichCompareBool, the dict's own
 * rules, so a str or (str, str) key matches here exactly when it would match in the dict.
 * A Table is immutable once built, so threads may share it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

typedef struct {
    Py_hash_t hash;
    Py_ssize_t entry; /* -1: empty */
} Slot;

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    size_t mask;
    Slot *slots;
    PyObject **keys;
    double *idf_sq;
    double *wx;
} TableObject;

static void
table_free_arrays(TableObject *self)
{
    if (self->keys != NULL) {
        for (Py_ssize_t i = 0; i < self->n; i++) {
            Py_XDECREF(self->keys[i]);
        }
    }
    PyMem_Free(self->keys);
    PyMem_Free(self->slots);
    PyMem_Free(self->idf_sq);
    PyMem_Free(self->wx);
    self->keys = NULL;
    self->slots = NULL;
    self->idf_sq = NULL;
    self->wx = NULL;
    self->n = 0;
}

static void
table_dealloc(TableObject *self)
{
    table_free_arrays(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The entry holding `key` (hash `hash`), -1 when absent, -2 on an error from a comparison. */
static Py_ssize_t
table_find(TableObject *self, PyObject *key, Py_hash_t hash)
{
    size_t i = (size_t)hash & self->mask;
    for (;;) {
        Slot *slot = &self->slots[i];
        if (slot->entry < 0) {
            return -1;
        }
        if (slot->hash == hash) {
            PyObject *stored = self->keys[slot->entry];
            if (stored == key) {
                return slot->entry;
            }
            int eq = PyObject_RichCompareBool(stored, key, Py_EQ);
            if (eq < 0) {
                return -2;
            }
            if (eq) {
                return slot->entry;
            }
        }
        i = (i + 1) & self->mask;
    }
}

static int
table_init(TableObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *mapping;
    static char *kwlist[] = {"mapping", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!:Table", kwlist, &PyDict_Type, &mapping)) {
        return -1;
    }
    if (self->slots != NULL) { /* decision() may be running on the arrays: never replace them */
        PyErr_SetString(PyExc_TypeError, "Table is immutable: __init__ cannot be called again");
        return -1;
    }
    Py_ssize_t n = PyDict_GET_SIZE(mapping);
    size_t capacity = 8;
    while (capacity < (size_t)n * 2) { /* load factor at most 1/2: short probe runs */
        capacity <<= 1;
    }
    self->slots = PyMem_Malloc(capacity * sizeof(Slot));
    self->keys = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    self->idf_sq = PyMem_Malloc((n ? n : 1) * sizeof(double));
    self->wx = PyMem_Malloc((n ? n : 1) * sizeof(double));
    if (self->slots == NULL || self->keys == NULL || self->idf_sq == NULL || self->wx == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    for (size_t i = 0; i < capacity; i++) {
        self->slots[i].entry = -1;
    }
    self->mask = capacity - 1;
    self->n = n;

    Py_ssize_t pos = 0, entry = 0;
    PyObject *key, *value;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        double a, b;
        /* A key's __hash__ or a value's __float__ may change the dict: hold both, and never
         * write past the arrays. */
        if (entry == n) {
            goto changed;
        }
        Py_INCREF(key);
        self->keys[entry] = key;
        Py_INCREF(value);
        if (!PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) {
            PyErr_Format(PyExc_TypeError,
                         "Table values must be (idf_sq, wx) tuples of two floats, found %R",
                         value);
            Py_DECREF(value);
            goto fail;
        }
        a = PyFloat_AsDouble(PyTuple_GET_ITEM(value, 0));
        if (a == -1.0 && PyErr_Occurred()) {
            Py_DECREF(value);
            goto fail;
        }
        b = PyFloat_AsDouble(PyTuple_GET_ITEM(value, 1));
        Py_DECREF(value);
        if (b == -1.0 && PyErr_Occurred()) {
            goto fail;
        }
        Py_hash_t hash = PyObject_Hash(key);
        if (hash == -1) {
            goto fail;
        }
        size_t i = (size_t)hash & self->mask;
        while (self->slots[i].entry >= 0) { /* dict keys are distinct: find a free slot */
            i = (i + 1) & self->mask;
        }
        self->idf_sq[entry] = a;
        self->wx[entry] = b;
        self->slots[i].hash = hash;
        self->slots[i].entry = entry;
        entry++;
    }
    if (entry == n) {
        return 0;
    }

changed:
    PyErr_SetString(PyExc_RuntimeError, "Table(): the dict changed size while it was copied");
fail:
    table_free_arrays(self);
    return -1;
}

static Py_ssize_t
table_length(TableObject *self)
{
    return self->n;
}

static PyObject *
table_get(TableObject *self, PyObject *key)
{
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) {
        return NULL;
    }
    Py_ssize_t entry = self->n ? table_find(self, key, hash) : -1;
    if (entry == -2) {
        return NULL;
    }
    if (entry < 0) {
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(dd)", self->idf_sq[entry], self->wx[entry]);
}

/* Per-call scratch: the entries a message hit, in order of first occurrence, with counts;
 * `where` maps an entry to its position (open addressing on the entry number). */
#define SMALL 512

static PyObject *
table_decision(TableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError,
                        "decision(keys, intercept, sublinear) takes exactly 3 arguments");
        return NULL;
    }
    PyObject *keys = args[0];
    if (!PyList_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "decision(): keys must be a list");
        return NULL;
    }
    double intercept = PyFloat_AsDouble(args[1]);
    if (intercept == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    int sublinear = PyObject_IsTrue(args[2]);
    if (sublinear < 0) {
        return NULL;
    }
    Py_ssize_t n_keys = PyList_GET_SIZE(keys);
    size_t cap = 16;
    while (cap < (size_t)n_keys * 2) {
        cap <<= 1;
    }
    Py_ssize_t small_order[SMALL], small_count[SMALL], small_where[2 * SMALL];
    Py_ssize_t *order = small_order, *count = small_count, *where = small_where;
    PyObject *result = NULL;
    if ((size_t)n_keys > SMALL || cap > 2 * SMALL) {
        order = PyMem_Malloc((n_keys ? n_keys : 1) * sizeof(Py_ssize_t));
        count = PyMem_Malloc((n_keys ? n_keys : 1) * sizeof(Py_ssize_t));
        where = PyMem_Malloc(cap * sizeof(Py_ssize_t));
        if (order == NULL || count == NULL || where == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (size_t i = 0; i < cap; i++) {
        where[i] = -1;
    }
    size_t wmask = cap - 1;
    Py_ssize_t distinct = 0;
    /* A key's __hash__ or __eq__ may change the list: hold the key, re-read the list's size. */
    for (Py_ssize_t k = 0; k < n_keys && k < PyList_GET_SIZE(keys); k++) {
        PyObject *key = PyList_GET_ITEM(keys, k);
        Py_INCREF(key);
        Py_hash_t hash = PyObject_Hash(key); /* as Counter does, even when the table is empty */
        Py_ssize_t entry = hash == -1 ? -2 : self->n ? table_find(self, key, hash) : -1;
        Py_DECREF(key);
        if (entry == -2) {
            goto done;
        }
        if (entry < 0) {
            continue;
        }
        size_t w = ((size_t)entry * 0x9E3779B97F4A7C15ull) >> 7 & wmask;
        for (;;) {
            Py_ssize_t at = where[w];
            if (at < 0) {
                where[w] = distinct;
                order[distinct] = entry;
                count[distinct] = 1;
                distinct++;
                break;
            }
            if (order[at] == entry) {
                count[at]++;
                break;
            }
            w = (w + 1) & wmask;
        }
    }
    /* The Python loop's order: entries counted once as they come, then the repeated ones. */
    double num = 0.0, sq = 0.0;
    int repeated = 0;
    for (Py_ssize_t j = 0; j < distinct; j++) {
        if (count[j] == 1) {
            sq += self->idf_sq[order[j]];
            num += self->wx[order[j]];
        }
        else {
            repeated = 1;
        }
    }
    if (repeated) {
        for (Py_ssize_t j = 0; j < distinct; j++) {
            if (count[j] > 1) {
                double c = (double)count[j];
                double tf = sublinear ? 1.0 + log(c) : c;
                sq += tf * tf * self->idf_sq[order[j]];
                num += tf * self->wx[order[j]];
            }
        }
    }
    if (sq == 0.0) {
        result = PyFloat_FromDouble(intercept);
    }
    else {
        result = PyFloat_FromDouble(num / sqrt(sq) + intercept);
    }

done:
    if (order != small_order) {
        PyMem_Free(order);
        PyMem_Free(count);
        PyMem_Free(where);
    }
    return result;
}

static PyMethodDef table_methods[] = {
    {"get", (PyCFunction)table_get, METH_O,
     "get(key) -> (idf_sq, wx), or None when the table has no such key."},
    {"decision", (PyCFunction)(void (*)(void))table_decision, METH_FASTCALL,
     "decision(keys: list, intercept: float, sublinear: bool) -> float: the linear model's "
     "decision value for a message whose feature keys are `keys`."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_length = (lenfunc)table_length,
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inmail_guard._speedups.Table",
    .tp_doc = PyDoc_STR("Table(mapping: dict[key, (idf_sq, wx)]): a compiled channel table."),
    .tp_basicsize = sizeof(TableObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
    .tp_as_sequence = &table_as_sequence,
};

/* MinHash(a, b, p0, p1): the bulk detector's fingerprint of a body's word hashes.
 *
 * Exactly plugins/bulk.py's numpy code: shingle k = w[k]*p0 + w[k+1]*p1 + w[k+2], and for
 * permutation j the minimum over the shingles of shingle*a[j] + b[j], all modulo 2**64, then
 * shifted right by 32. Unsigned 64-bit C arithmetic wraps as numpy's uint64 does. */

#define MAX_PERMUTATIONS 256

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    uint64_t a[MAX_PERMUTATIONS];
    uint64_t b[MAX_PERMUTATIONS];
    uint64_t p0, p1;
} MinHashObject;

static int
u64_list(PyObject *list, const char *name, uint64_t *out, Py_ssize_t *n)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "MinHash(): %s must be a list of ints", name);
        return -1;
    }
    Py_ssize_t size = PyList_GET_SIZE(list);
    if (size < 1 || size > MAX_PERMUTATIONS) {
        PyErr_Format(PyExc_ValueError, "MinHash(): %s must hold 1 to %d ints, found %zd",
                     name, MAX_PERMUTATIONS, size);
        return -1;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(list, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            return -1;
        }
        out[i] = (uint64_t)v;
    }
    *n = size;
    return 0;
}

static int
minhash_init(MinHashObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *a, *b;
    unsigned long long p0, p1;
    static char *kwlist[] = {"a", "b", "p0", "p1", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOKK:MinHash", kwlist, &a, &b, &p0, &p1)) {
        return -1;
    }
    uint64_t new_a[MAX_PERMUTATIONS], new_b[MAX_PERMUTATIONS]; /* self unchanged on errors */
    Py_ssize_t na, nb;
    if (u64_list(a, "a", new_a, &na) < 0 || u64_list(b, "b", new_b, &nb) < 0) {
        return -1;
    }
    if (na != nb) {
        PyErr_Format(PyExc_ValueError, "MinHash(): a and b must be as long, found %zd and %zd",
                     na, nb);
        return -1;
    }
    memcpy(self->a, new_a, na * sizeof(uint64_t));
    memcpy(self->b, new_b, nb * sizeof(uint64_t));
    self->n = na;
    self->p0 = (uint64_t)p0;
    self->p1 = (uint64_t)p1;
    return 0;
}

/* minhash(word_hashes: list[int]) -> tuple[int, ...]; at least 3 hashes (the caller pads). */
static PyObject *
minhash_call(MinHashObject *self, PyObject *args, PyObject *kwargs)
{
    PyObject *words;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "MinHash() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!:MinHash", &PyList_Type, &words)) {
        return NULL;
    }
    if (self->n == 0) {
        PyErr_SetString(PyExc_ValueError, "MinHash object was not initialised");
        return NULL;
    }
    Py_ssize_t n_words = PyList_GET_SIZE(words);
    if (n_words < 3) {
        PyErr_Format(PyExc_ValueError, "MinHash needs at least 3 word hashes, found %zd",
                     n_words);
        return NULL;
    }
    uint64_t mins[MAX_PERMUTATIONS];
    for (Py_ssize_t j = 0; j < self->n; j++) {
        mins[j] = UINT64_MAX;
    }
    uint64_t w0, w1, w2;
    unsigned long long v;
    /* The first two words, then one shingle per further word. */
    v = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(words, 0));
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    w1 = (uint64_t)v;
    v = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(words, 1));
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    w2 = (uint64_t)v;
    for (Py_ssize_t k = 2; k < n_words; k++) {
        v = PyLong_AsUnsignedLongLong(PyList_GET_ITEM(words, k));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            return NULL;
        }
        w0 = w1;
        w1 = w2;
        w2 = (uint64_t)v;
        uint64_t shingle = w0 * self->p0 + w1 * self->p1 + w2;
        for (Py_ssize_t j = 0; j < self->n; j++) {
            uint64_t h = shingle * self->a[j] + self->b[j];
            if (h < mins[j]) {
                mins[j] = h;
            }
        }
    }
    PyObject *out = PyTuple_New(self->n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t j = 0; j < self->n; j++) {
        PyObject *item = PyLong_FromUnsignedLongLong(mins[j] >> 32);
        if (item == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, j, item);
    }
    return out;
}

static PyTypeObject MinHashType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "inmail_guard._speedups.MinHash",
    .tp_doc = PyDoc_STR("MinHash(a, b, p0, p1)(word_hashes) -> fingerprint tuple "
                        "(plugins/bulk.py)."),
    .tp_basicsize = sizeof(MinHashObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)minhash_init,
    .tp_call = (ternaryfunc)minhash_call,
};

/* agreements(mine: str, signatures: list[str]) -> list[int]: the bulk detector's comparison.
 *
 * Each signature is a fingerprint as the store keeps it (BodyFingerprint.minhash_hex: 8 lowercase
 * hex digits per value), as long as ``mine``; the result counts, per signature, the values equal
 * to mine's at the same position, i.e. the 8-character chunks that are equal. Exactly
 * plugins/bulk.py's numpy code, without joining the texts or building arrays: a heavy sender's
 * 200 signatures are compared in a few microseconds. */

static PyObject *
agreements(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "agreements() takes 2 arguments, %zd given", nargs);
        return NULL;
    }
    PyObject *mine = args[0], *signatures = args[1];
    if (!PyUnicode_Check(mine) || !PyUnicode_IS_ASCII(mine)) {
        PyErr_SetString(PyExc_TypeError, "agreements(): mine must be an ASCII str");
        return NULL;
    }
    if (!PyList_Check(signatures)) {
        PyErr_SetString(PyExc_TypeError, "agreements(): signatures must be a list of str");
        return NULL;
    }
    Py_ssize_t length = PyUnicode_GET_LENGTH(mine);
    if (length % 8 != 0) {
        PyErr_Format(PyExc_ValueError,
                     "agreements(): mine must be 8 characters per value, found %zd", length);
        return NULL;
    }
    Py_ssize_t words = length / 8, n = PyList_GET_SIZE(signatures);
    const char *ref = (const char *)PyUnicode_DATA(mine);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sig = PyList_GET_ITEM(signatures, i);
        if (!PyUnicode_Check(sig) || !PyUnicode_IS_ASCII(sig)
                || PyUnicode_GET_LENGTH(sig) != length) {
            PyErr_Format(PyExc_ValueError,
                         "agreements(): signature %zd is not an ASCII str of %zd characters",
                         i, length);
            Py_DECREF(out);
            return NULL;
        }
        const char *data = (const char *)PyUnicode_DATA(sig);
        long equal = 0;
        for (Py_ssize_t j = 0; j < words; j++) {
            uint64_t x, y;
            memcpy(&x, data + 8 * j, 8);
            memcpy(&y, ref + 8 * j, 8);
            equal += x == y;
        }
        PyObject *count = PyLong_FromLong(equal);
        if (count == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, count);
    }
    return out;
}

static PyMethodDef module_methods[] = {
    {"agreements", (PyCFunction)(void (*)(void))agreements, METH_FASTCALL,
     PyDoc_STR("agreements(mine, signatures) -> list of equal values per signature "
               "(plugins/bulk.py).")},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastscore_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "inmail_guard._speedups",
    .m_doc = "Optional C versions of the classifier's table lookups and the bulk detector's "
             "MinHash and comparison (pure-Python fallbacks give the same results).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&TableType) < 0 || PyType_Ready(&MinHashType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&fastscore_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&TableType);
    if (PyModule_AddObject(module, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&MinHashType);
    if (PyModule_AddObject(module, "MinHash", (PyObject *)&MinHashType) < 0) {
        Py_DECREF(&MinHashType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
