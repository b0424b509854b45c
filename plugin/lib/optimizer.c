/* gst-sharedmatrix: training at update time
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
/**
 * SECTION:gstsharedmatrixoptimizer
 * @title: Optimizers
 * @short_description: gradient updates applied as optimizer steps
 *
 * For online learning a producer sends gradients instead of deltas and the
 * matrix applies an optimizer step (FBGEMM's fused "backward + optimizer").
 * Choose the optimizer once with gst_shared_matrix_set_optimizer(), then
 * apply each gradient update with gst_shared_matrix_apply_gradients().
 *
 * For one update, the gradient rows of each distinct row index are first
 * summed in buffer order (float32, or float64 when the matrix or the
 * gradients are float64), giving g; then every distinct row takes one step,
 * element-wise (w the row, state float32):
 *
 * - sgd: `w -= lr · g`
 * - adagrad: `G += g²; w -= lr · (g / (sqrt (G) + eps))`
 * - rowwise-adagrad: `G_r += mean (g²)` (one value per row);
 *   `w -= (lr / (sqrt (G_r) + eps)) · g`
 * - adam: lazy Adam, computed as torch.optim.SparseAdam computes it:
 *   `m += (1 - β1) · (g - m); v += (1 - β2) · (g² - v);
 *   w -= lr · sqrt (1 - β2^t) / (1 - β1^t) · (m / (sqrt (v) + eps))`,
 *   t the number of steps the matrix has taken, this one included.
 *
 * With a weight decay, `g += weight_decay · w` for the touched rows before
 * the step. Rows not in the update keep their state. Invalid indices and
 * NaN/±Inf gradients follow the #GstSharedMatrixPolicies of the call, per
 * occurrence before summing; a dropped occurrence changes nothing.
 * float16/bfloat16 matrices keep float32 state; each new value is rounded
 * to the matrix dtype (round to nearest even).
 *
 * The state is part of the matrix: zero when the optimizer is chosen, kept
 * on the matrix's backend, shared by everyone using the matrix, saved in
 * checkpoints with the step count and restored with them, and readable with
 * gst_shared_matrix_get_optimizer_state(). Every applied gradient update
 * increments the matrix version and the step count by one, an empty one
 * too.
 */
#include <math.h>
#include <string.h>

#include "gstsharedmatrix-private.h"
#include "npy.h"
#include "backend-optim.h"
#include "update-grouping.h"

G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OPTIMIZER_SGD == SM_OPTIM_SGD);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OPTIMIZER_ADAGRAD ==
    SM_OPTIM_ADAGRAD);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OPTIMIZER_ROWWISE_ADAGRAD ==
    SM_OPTIM_ROWWISE_ADAGRAD);
G_STATIC_ASSERT ((int) GST_SHARED_MATRIX_OPTIMIZER_ADAM == SM_OPTIM_ADAM);

#define DEFAULT_LEARNING_RATE 0.01
#define DEFAULT_EPSILON 1e-8
#define DEFAULT_BETA1 0.9
#define DEFAULT_BETA2 0.999
#define DEFAULT_WEIGHT_DECAY 0.0

/* What the matrix holds for its optimizer (under its data lock) */
typedef struct
{
  GstSharedMatrixOptimizer kind;
  gpointer state;               /* the backend's handle */
  gsize n_floats;               /* state values, all slots */
  guint n_slots;
  guint64 step;                 /* steps taken (adam's t of the last one) */
} SmOptimizer;

static gpointer
copy_params (gpointer p)
{
  return g_memdup2 (p, sizeof (GstSharedMatrixOptimizerParams));
}

G_DEFINE_BOXED_TYPE (GstSharedMatrixOptimizerParams,
    gst_shared_matrix_optimizer_params, copy_params, g_free);

/**
 * gst_shared_matrix_optimizer_params_init:
 * @params: (out caller-allocates): the parameters to set
 *
 * Sets the defaults: learning rate 0.01, epsilon 1e-8, beta1 0.9, beta2
 * 0.999, weight decay 0.
 */
void
gst_shared_matrix_optimizer_params_init (GstSharedMatrixOptimizerParams *
    params)
{
  g_return_if_fail (params != NULL);
  params->learning_rate = DEFAULT_LEARNING_RATE;
  params->epsilon = DEFAULT_EPSILON;
  params->beta1 = DEFAULT_BETA1;
  params->beta2 = DEFAULT_BETA2;
  params->weight_decay = DEFAULT_WEIGHT_DECAY;
}

/**
 * gst_shared_matrix_optimizer_params_new: (constructor)
 *
 * New parameters holding the defaults (see
 * gst_shared_matrix_optimizer_params_init()). From Python:
 * `p = GstSharedMatrix.OptimizerParams.new (); p.learning_rate = 0.1`.
 *
 * Returns: (transfer full): the parameters; free with g_boxed_free()
 */
GstSharedMatrixOptimizerParams *
gst_shared_matrix_optimizer_params_new (void)
{
  GstSharedMatrixOptimizerParams *p = g_new (GstSharedMatrixOptimizerParams,
      1);

  gst_shared_matrix_optimizer_params_init (p);
  return p;
}

static gboolean
check_param (const gchar * name, gdouble value, gboolean below_one,
    GError ** error)
{
  if (isfinite (value) && value >= 0 && (!below_one || value < 1))
    return TRUE;
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
      "Invalid %s %g: allowed is a finite number %s", name, value,
      below_one ? "from 0 up to but excluding 1" : "greater than or equal "
      "to 0");
  return FALSE;
}

/**
 * gst_shared_matrix_optimizer_params_validate:
 * @params: the parameters to check
 * @error: return location for a #GError
 *
 * Checks the parameters: learning rate, epsilon and weight decay finite and
 * >= 0, beta1 and beta2 in [0, 1).
 *
 * Returns: %TRUE when they are usable; %FALSE with @error
 *   (%GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT) naming the first value
 *   that is not, and what is allowed
 */
gboolean
gst_shared_matrix_optimizer_params_validate (const
    GstSharedMatrixOptimizerParams * params, GError ** error)
{
  g_return_val_if_fail (params != NULL, FALSE);
  return check_param ("learning rate", params->learning_rate, FALSE, error)
      && check_param ("epsilon", params->epsilon, FALSE, error)
      && check_param ("beta1", params->beta1, TRUE, error)
      && check_param ("beta2", params->beta2, TRUE, error)
      && check_param ("weight decay", params->weight_decay, FALSE, error);
}

static const gchar *
optimizer_name (GstSharedMatrixOptimizer optimizer)
{
  static const gchar *const names[] = { "none", "sgd", "adagrad",
    "rowwise-adagrad", "adam"
  };

  return (guint) optimizer < G_N_ELEMENTS (names) ? names[optimizer] :
      "unknown";
}

static gboolean
check_optimizer (GstSharedMatrixOptimizer optimizer, GError ** error)
{
  if ((guint) optimizer <= GST_SHARED_MATRIX_OPTIMIZER_ADAM)
    return TRUE;
  g_set_error (error, GST_SHARED_MATRIX_ERROR,
      GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
      "Unknown optimizer %d: allowed are none, sgd, adagrad, "
      "rowwise-adagrad and adam", optimizer);
  return FALSE;
}

/* state slots and values of @optimizer on a rows x cols matrix */
static guint
layout (GstSharedMatrixOptimizer optimizer, const SmShape * shape,
    gsize * n_floats)
{
  guint slots = sm_optim_state_slots (optimizer);

  *n_floats = shape->rows * slots * sm_optim_state_width (optimizer,
      shape->cols);
  return slots;
}

/* A new zeroed optimizer on the backend, or NULL with @error. */
static SmOptimizer *
optimizer_new (GstSharedMatrix * self, GstSharedMatrixOptimizer kind,
    GError ** error)
{
  const SmShape *shape = sm_matrix_shape (self);
  const SmBackendOps *ops = sm_matrix_ops (self);
  SmOptimizer *o;
  gsize n_floats;
  guint n_slots = layout (kind, shape, &n_floats);
  gpointer state;

  if (ops->state_create == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_BACKEND, "The %s backend has no optimizers",
        gst_shared_matrix_backend_to_string (ops->kind));
    return NULL;
  }
  /* the state's size must fit the address space like the matrix's */
  if (kind == GST_SHARED_MATRIX_OPTIMIZER_ADAM &&
      shape->rows * shape->cols > G_MAXSSIZE / 8) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY, "The adam state of a %"
        G_GUINT64_FORMAT " x %u matrix does not fit in the address space",
        shape->rows, shape->cols);
    return NULL;
  }
  state = ops->state_create (sm_matrix_storage (self), n_slots,
      sm_optim_state_width (kind, shape->cols), error);
  if (state == NULL) {
    g_prefix_error (error, "Cannot create the %s optimizer state: ",
        optimizer_name (kind));
    return NULL;
  }
  o = g_new0 (SmOptimizer, 1);
  o->kind = kind;
  o->state = state;
  o->n_floats = n_floats;
  o->n_slots = n_slots;
  return o;
}

static void
optimizer_free (GstSharedMatrix * self, SmOptimizer * o)
{
  if (o == NULL)
    return;
  sm_matrix_ops (self)->state_destroy (sm_matrix_storage (self), o->state);
  g_free (o);
}

void
sm_optimizer_free (GstSharedMatrix * self)
{
  gpointer *slot = sm_matrix_optimizer_slot (self);

  optimizer_free (self, *slot);
  *slot = NULL;
}

/**
 * gst_shared_matrix_set_optimizer:
 * @self: a #GstSharedMatrix
 * @optimizer: the optimizer gradient updates use
 * @error: return location for a #GError
 *
 * Chooses the optimizer of the matrix and creates its state (zero-filled,
 * float32, on the matrix's backend: rows × cols values for adagrad, rows
 * for rowwise-adagrad, 2 × rows × cols for adam, none for sgd). Choosing
 * the optimizer the matrix already has keeps its state and step count (so
 * every user of a shared matrix may call this). Choosing another one while
 * the matrix has one is an error: the state would be lost.
 * %GST_SHARED_MATRIX_OPTIMIZER_NONE on a matrix without an optimizer does
 * nothing.
 *
 * Returns: %TRUE on success; %FALSE with @error
 *   (%GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT naming both optimizers, or
 *   %GST_SHARED_MATRIX_ERROR_NO_MEMORY) and the matrix unchanged
 */
gboolean
gst_shared_matrix_set_optimizer (GstSharedMatrix * self,
    GstSharedMatrixOptimizer optimizer, GError ** error)
{
  GMutex *lock;
  SmOptimizer *o;
  gboolean ok = TRUE;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  if (!check_optimizer (optimizer, error))
    return FALSE;

  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  o = *sm_matrix_optimizer_slot (self);
  if (o != NULL && o->kind != optimizer) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "The matrix already uses the %s optimizer (%" G_GUINT64_FORMAT
        " steps taken), so it cannot switch to %s: its state would be lost. "
        "Use optimizer=%s with this matrix, or a new matrix (or one "
        "restored from a checkpoint without optimizer state) for %s",
        optimizer_name (o->kind), o->step, optimizer_name (optimizer),
        optimizer_name (o->kind), optimizer_name (optimizer));
    ok = FALSE;
  } else if (o == NULL && optimizer != GST_SHARED_MATRIX_OPTIMIZER_NONE) {
    o = optimizer_new (self, optimizer, error);
    if (o)
      *sm_matrix_optimizer_slot (self) = o;
    ok = o != NULL;
  }
  g_mutex_unlock (lock);
  return ok;
}

/**
 * gst_shared_matrix_get_optimizer:
 * @self: a #GstSharedMatrix
 *
 * Gets the optimizer chosen with gst_shared_matrix_set_optimizer() or
 * restored from a checkpoint.
 *
 * Returns: the optimizer, %GST_SHARED_MATRIX_OPTIMIZER_NONE when there is
 *   none
 */
GstSharedMatrixOptimizer
gst_shared_matrix_get_optimizer (GstSharedMatrix * self)
{
  GstSharedMatrixOptimizer kind;
  GMutex *lock;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  kind = sm_optimizer_get_locked (self, NULL, NULL);
  g_mutex_unlock (lock);
  return kind;
}

/**
 * gst_shared_matrix_get_optimizer_step:
 * @self: a #GstSharedMatrix
 *
 * Gets the number of optimizer steps the matrix has taken (one per applied
 * gradient update; adam's t of the last step).
 *
 * Returns: the step count, 0 without an optimizer
 */
guint64
gst_shared_matrix_get_optimizer_step (GstSharedMatrix * self)
{
  guint64 step = 0;
  GMutex *lock;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  sm_optimizer_get_locked (self, &step, NULL);
  g_mutex_unlock (lock);
  return step;
}

/**
 * gst_shared_matrix_get_optimizer_n_slots:
 * @self: a #GstSharedMatrix
 *
 * Gets the number of state tensors of the matrix's optimizer, the slots
 * gst_shared_matrix_get_optimizer_state() reads: 0 for none and sgd, 1 for
 * adagrad (G) and rowwise-adagrad (G_r), 2 for adam (m, v).
 *
 * Returns: the number of state slots
 */
guint
gst_shared_matrix_get_optimizer_n_slots (GstSharedMatrix * self)
{
  guint n = 0;
  GMutex *lock;
  SmOptimizer *o;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), 0);
  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  o = *sm_matrix_optimizer_slot (self);
  if (o)
    n = o->n_slots;
  g_mutex_unlock (lock);
  return n;
}

/**
 * gst_shared_matrix_apply_gradients: (skip)
 * @self: a #GstSharedMatrix with an optimizer
 * @indices: @n row indices of @index_type (no alignment needed)
 * @n: number of gradient rows (0 is a valid empty update)
 * @index_type: type of @indices
 * @grads: @n × cols gradients of @grad_dtype, row-major (no alignment
 *   needed)
 * @grad_dtype: dtype of @grads
 * @params: (nullable): the step's hyper-parameters; %NULL for the defaults
 * @policies: (nullable): what to do with out-of-range indices and NaN/±Inf
 *   gradient rows; %NULL for the strict default
 * @result: (out caller-allocates) (optional): what the update did
 *   (rows_applied counts gradient rows, not distinct rows)
 * @error: return location for a #GError
 *
 * Applies one gradient update as one step of the matrix's optimizer (see
 * the section's description for the arithmetic). The update is validated
 * (indices, gradients, @params) before anything is written, and applied
 * atomically with respect to readers.
 *
 * Returns: %TRUE when applied (the version and the step count are
 *   incremented); %FALSE with @error when rejected (no optimizer chosen,
 *   invalid parameters, an index or gradient the policies reject: matrix,
 *   state and step unchanged) or the device failed
 *   (%GST_SHARED_MATRIX_ERROR_DEVICE, as for gst_shared_matrix_update())
 */
gboolean
gst_shared_matrix_apply_gradients (GstSharedMatrix * self,
    gconstpointer indices, gsize n, GstSharedMatrixIndexType index_type,
    gconstpointer grads, GstSharedMatrixDType grad_dtype,
    const GstSharedMatrixOptimizerParams * params,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  GstSharedMatrixOptimizerParams defaults;
  GstSharedMatrixUpdateResult res = { 0, };
  SmOptimPlan plan;
  const SmBackendOps *ops;
  guint8 *skip = NULL;
  GMutex *lock;
  SmOptimizer *o;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (n == 0 || (indices != NULL && grads != NULL), FALSE);

  if (gst_shared_matrix_index_type_size (index_type) == 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Unknown index type %d: allowed are int32 and int64", index_type);
    return FALSE;
  }
  if (gst_shared_matrix_dtype_size (grad_dtype) == 0) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "Unknown gradient dtype %d: allowed are float32, float64, float16 "
        "and bfloat16", grad_dtype);
    return FALSE;
  }
  if (n > SM_UPDATE_GROUPING_MAX_N) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "A gradient update of %" G_GSIZE_FORMAT " rows is too big: at most %"
        G_GSIZE_FORMAT " rows per update", n, SM_UPDATE_GROUPING_MAX_N);
    return FALSE;
  }
  if (params == NULL) {
    gst_shared_matrix_optimizer_params_init (&defaults);
    params = &defaults;
  }
  if (!gst_shared_matrix_optimizer_params_validate (params, error))
    return FALSE;

  memset (&plan, 0, sizeof plan);
  plan.update.op = GST_SHARED_MATRIX_OP_ADD;
  plan.update.indices = indices;
  plan.update.indices_int64 = index_type == GST_SHARED_MATRIX_INDEX_TYPE_INT64;
  plan.update.deltas = grads;
  plan.update.delta_dtype = grad_dtype;
  plan.update.n = n;
  plan.lr = params->learning_rate;
  plan.eps = params->epsilon;
  plan.beta1 = params->beta1;
  plan.beta2 = params->beta2;
  plan.weight_decay = params->weight_decay;

  /* validation reads only the caller's data: no lock needed yet */
  if (!sm_matrix_validate_update (self, &plan.update, policies, &skip, &res,
          error))
    return FALSE;
  plan.update.skip = skip;
  if (res.rows_applied == 0)
    plan.update.n = 0;

  ops = sm_matrix_ops (self);
  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  o = *sm_matrix_optimizer_slot (self);
  if (o == NULL) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "The matrix has no optimizer: choose one (sgd, adagrad, "
        "rowwise-adagrad or adam) with gst_shared_matrix_set_optimizer() "
        "or the element's optimizer property before applying gradients");
    ok = FALSE;
  } else {
    guint64 t = o->step + 1;

    plan.optimizer = o->kind;
    /* in float64, as torch computes it (Python floats) */
    plan.step_size = plan.lr * sqrt (1.0 - pow (plan.beta2, (double) t)) /
        (1.0 - pow (plan.beta1, (double) t));
    ok = ops->optimizer_step (sm_matrix_storage (self), o->state, &plan,
        error);
    if (ok) {
      o->step = t;
      res.version = sm_matrix_commit_update (self, &plan.update);
    }
  }
  g_mutex_unlock (lock);

  g_free (skip);
  if (ok && result)
    *result = res;
  return ok;
}

/**
 * gst_shared_matrix_apply_gradients_bytes:
 * @self: a #GstSharedMatrix with an optimizer
 * @indices: N row indices of @index_type
 * @index_type: type of @indices
 * @grads: N × cols gradients of @grad_dtype, row-major
 * @grad_dtype: dtype of @grads
 * @params: (nullable): the step's hyper-parameters; %NULL for the defaults
 * @policies: (nullable): what to do with out-of-range indices and NaN/±Inf
 *   gradients; %NULL for the strict default
 * @result: (out caller-allocates) (optional): what the update did
 * @error: return location for a #GError
 *
 * gst_shared_matrix_apply_gradients() for bindings: N is taken from the
 * size of @indices, and @grads must hold exactly N × cols values. From
 * Python: `ok, result = m.apply_gradients_bytes (GLib.Bytes (idx.tobytes ()),
 * GstSharedMatrix.IndexType.INT32, GLib.Bytes (g.tobytes ()),
 * GstSharedMatrix.DType.FLOAT32, params, None)`.
 *
 * Returns: %TRUE when applied; %FALSE with @error as for
 *   gst_shared_matrix_apply_gradients(), or
 *   %GST_SHARED_MATRIX_ERROR_SIZE when the sizes do not make an update
 */
gboolean
gst_shared_matrix_apply_gradients_bytes (GstSharedMatrix * self,
    GBytes * indices, GstSharedMatrixIndexType index_type, GBytes * grads,
    GstSharedMatrixDType grad_dtype,
    const GstSharedMatrixOptimizerParams * params,
    const GstSharedMatrixPolicies * policies,
    GstSharedMatrixUpdateResult * result, GError ** error)
{
  gsize isize_total, gsize_total, n;
  gconstpointer idata, gdata;
  guint isize, dsize, cols;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), FALSE);
  g_return_val_if_fail (indices != NULL && grads != NULL, FALSE);

  isize = gst_shared_matrix_index_type_size (index_type);
  dsize = gst_shared_matrix_dtype_size (grad_dtype);
  if (isize == 0 || dsize == 0)
    /* the full call names what is wrong */
    return gst_shared_matrix_apply_gradients (self, NULL, 0, index_type, NULL,
        grad_dtype, params, policies, result, error);

  cols = gst_shared_matrix_get_cols (self);
  idata = g_bytes_get_data (indices, &isize_total);
  gdata = g_bytes_get_data (grads, &gsize_total);
  n = isize_total / isize;
  if (isize_total % isize != 0 || gsize_total != n * cols * dsize) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_SIZE,
        "%" G_GSIZE_FORMAT " bytes of %s indices and %" G_GSIZE_FORMAT
        " bytes of %s gradients do not make an update of a matrix with %u "
        "columns (%u bytes per index, %" G_GSIZE_FORMAT " bytes per gradient "
        "row)", isize_total, gst_shared_matrix_index_type_to_string
        (index_type), gsize_total,
        gst_shared_matrix_dtype_to_string (grad_dtype), cols, isize,
        (gsize) cols * dsize);
    return FALSE;
  }
  return gst_shared_matrix_apply_gradients (self, idata, n, index_type, gdata,
      grad_dtype, params, policies, result, error);
}

/**
 * gst_shared_matrix_get_optimizer_state:
 * @self: a #GstSharedMatrix
 * @slot: which state tensor: 0 = adagrad's G (rows × cols),
 *   rowwise-adagrad's G_r (rows × 1) or adam's m (rows × cols); 1 = adam's
 *   v (rows × cols)
 * @format: %GST_SHARED_MATRIX_FORMAT_NPY for a `.npy` file (float32,
 *   `numpy.load (io.BytesIO (data))`), %GST_SHARED_MATRIX_FORMAT_RAW for
 *   the row-major float32 values alone
 * @step: (out) (optional): the step count the state belongs to
 * @error: return location for a #GError
 *
 * A consistent copy of one tensor of the optimizer state (taken between
 * two updates, with @step from the same instant).
 *
 * Returns: (transfer full) (nullable): the state, or %NULL with @error:
 *   %GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT when the matrix's optimizer
 *   has no such slot (see gst_shared_matrix_get_optimizer_n_slots()),
 *   %GST_SHARED_MATRIX_ERROR_NO_MEMORY or %GST_SHARED_MATRIX_ERROR_DEVICE
 */
GBytes *
gst_shared_matrix_get_optimizer_state (GstSharedMatrix * self, guint slot,
    GstSharedMatrixFormat format, guint64 * step, GError ** error)
{
  const SmShape *shape;
  SmOptimizer *o;
  GMutex *lock;
  gsize header = 0, slot_floats, size;
  guint64 srows, scols;
  float *all = NULL;
  guint8 *out;
  gboolean ok;

  g_return_val_if_fail (GST_IS_SHARED_MATRIX (self), NULL);

  shape = sm_matrix_shape (self);
  lock = sm_matrix_data_lock (self);
  g_mutex_lock (lock);
  o = *sm_matrix_optimizer_slot (self);
  if (o == NULL || slot >= o->n_slots) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_INVALID_ARGUMENT,
        "No optimizer state slot %u: the matrix's optimizer (%s) has %u "
        "(adagrad and rowwise-adagrad: 0 = G; adam: 0 = m, 1 = v)", slot,
        optimizer_name (o ? o->kind : GST_SHARED_MATRIX_OPTIMIZER_NONE),
        o ? o->n_slots : 0);
    g_mutex_unlock (lock);
    return NULL;
  }
  srows = shape->rows;
  scols = o->kind == GST_SHARED_MATRIX_OPTIMIZER_ROWWISE_ADAGRAD ? 1 :
      shape->cols;
  slot_floats = o->n_floats / o->n_slots;
  if (format == GST_SHARED_MATRIX_FORMAT_NPY)
    header = sm_npy_header_size (GST_SHARED_MATRIX_DTYPE_FLOAT32, srows,
        (guint) scols);
  size = header + slot_floats * sizeof (float);
  out = g_try_malloc (size);
  if (o->n_slots > 1)
    all = g_try_malloc (o->n_floats * sizeof (float));
  if (out == NULL || (o->n_slots > 1 && all == NULL)) {
    g_mutex_unlock (lock);
    g_free (out);
    g_free (all);
    g_set_error (error, GST_SHARED_MATRIX_ERROR,
        GST_SHARED_MATRIX_ERROR_NO_MEMORY, "Cannot allocate %" G_GSIZE_FORMAT
        " bytes for a copy of the optimizer state", o->n_floats * 4);
    return NULL;
  }
  ok = sm_matrix_ops (self)->state_read (sm_matrix_storage (self), o->state,
      all ? all : (float *) (out + header), error);
  if (ok && step)
    *step = o->step;
  g_mutex_unlock (lock);

  if (ok && all)
    memcpy (out + header, all + slot * slot_floats, slot_floats * 4);
  g_free (all);
  if (!ok) {
    g_free (out);
    return NULL;
  }
  if (header)
    sm_npy_write_header (GST_SHARED_MATRIX_DTYPE_FLOAT32, srows, (guint) scols,
        out, header);
  return g_bytes_new_take (out, size);
}

/* ---- checkpoints (gstsharedmatrix-private.h) ---------------------------- */

GstSharedMatrixOptimizer
sm_optimizer_get_locked (GstSharedMatrix * self, guint64 * step,
    gsize * n_floats)
{
  SmOptimizer *o = *sm_matrix_optimizer_slot (self);

  if (step)
    *step = o ? o->step : 0;
  if (n_floats)
    *n_floats = o ? o->n_floats : 0;
  return o ? o->kind : GST_SHARED_MATRIX_OPTIMIZER_NONE;
}

gboolean
sm_optimizer_read_locked (GstSharedMatrix * self, float *dest,
    GError ** error)
{
  SmOptimizer *o = *sm_matrix_optimizer_slot (self);

  if (o == NULL || o->n_floats == 0)
    return TRUE;
  return sm_matrix_ops (self)->state_read (sm_matrix_storage (self), o->state,
      dest, error);
}

gboolean
sm_optimizer_restore_locked (GstSharedMatrix * self,
    GstSharedMatrixOptimizer optimizer, guint64 step, const guint8 * data,
    gsize size, GError ** error)
{
  SmOptimizer *o;
  gsize n_floats;
  float *values = NULL;
  gboolean ok = TRUE;

  if (!check_optimizer (optimizer, error))
    return FALSE;
  if (optimizer == GST_SHARED_MATRIX_OPTIMIZER_NONE)
    return TRUE;
  layout (optimizer, sm_matrix_shape (self), &n_floats);
  if (size != n_floats * sizeof (float)) {
    g_set_error (error, GST_SHARED_MATRIX_ERROR, GST_SHARED_MATRIX_ERROR_NPY,
        "%s state of %" G_GSIZE_FORMAT " bytes does not fit the matrix, "
        "which needs %" G_GSIZE_FORMAT, optimizer_name (optimizer), size,
        n_floats * sizeof (float));
    return FALSE;
  }
  o = optimizer_new (self, optimizer, error);
  if (o == NULL)
    return FALSE;
  if (n_floats) {
    /* the file's bytes are little-endian and maybe unaligned */
    values = g_try_malloc (size);
    if (values == NULL) {
      g_set_error (error, GST_SHARED_MATRIX_ERROR,
          GST_SHARED_MATRIX_ERROR_NO_MEMORY, "Cannot allocate %"
          G_GSIZE_FORMAT " bytes for the optimizer state", size);
      ok = FALSE;
    } else {
      memcpy (values, data, size);
#if G_BYTE_ORDER == G_BIG_ENDIAN
      {
        guint32 *u = (guint32 *) values;
        gsize i;

        for (i = 0; i < n_floats; i++)
          u[i] = GUINT32_FROM_LE (u[i]);
      }
#endif
      ok = sm_matrix_ops (self)->state_write (sm_matrix_storage (self),
          o->state, values, error);
      g_free (values);
    }
  }
  if (!ok) {
    optimizer_free (self, o);
    return FALSE;
  }
  o->step = step;
  optimizer_free (self, *sm_matrix_optimizer_slot (self));
  *sm_matrix_optimizer_slot (self) = o;
  return TRUE;
}
