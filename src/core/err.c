/* err.c - strings and properties of the DSB_ERR_* list (include/dsb/err.h). */
#include "dsb/err.h"

const char *dsb_strerror(int err) {
  switch (err) {
  case DSB_OK:
    return "ok";
#define DSB_ERR_XX(name, value, flags, label, desc)                            \
  case DSB_ERR_##name:                                                         \
    return label;
    DSB_ERR_MAP(DSB_ERR_XX)
#undef DSB_ERR_XX
  default:
    return "unknown_error";
  }
}

const char *dsb_err_name(int err) {
  switch (err) {
  case DSB_OK:
    return "DSB_OK";
#define DSB_ERR_XX(name, value, flags, label, desc)                            \
  case DSB_ERR_##name:                                                         \
    return "DSB_ERR_" #name;
    DSB_ERR_MAP(DSB_ERR_XX)
#undef DSB_ERR_XX
  default:
    return "DSB_ERR_UNKNOWN";
  }
}

const char *dsb_err_describe(int err) {
  switch (err) {
  case DSB_OK:
    return "success";
#define DSB_ERR_XX(name, value, flags, label, desc)                            \
  case DSB_ERR_##name:                                                         \
    return desc;
    DSB_ERR_MAP(DSB_ERR_XX)
#undef DSB_ERR_XX
  default:
    return "unknown error";
  }
}

int dsb_err_is_fatal(int err) {
  switch (err) {
#define DSB_ERR_XX(name, value, flags, label, desc)                            \
  case DSB_ERR_##name:                                                         \
    return ((flags)&DSB_ERRF_FATAL) != 0;
    /* Generated cases: equal bodies are the point of the table. */
    DSB_ERR_MAP(DSB_ERR_XX) /* NOLINT(bugprone-branch-clone) */
#undef DSB_ERR_XX
  default:
    return 0;
  }
}
