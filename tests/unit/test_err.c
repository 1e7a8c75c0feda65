/* test_err.c - the error list: every code has distinct, stable strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dsb/err.h"

static const int all_codes[] = {
#define XX(name, value, flags, label, desc) DSB_ERR_##name,
    DSB_ERR_MAP(XX)
#undef XX
};

static void test_labels_are_distinct(void **state) {
  (void)state;
  size_t n = sizeof(all_codes) / sizeof(all_codes[0]);
  for (size_t i = 0; i < n; ++i) {
    assert_true(all_codes[i] < 0);
    assert_string_not_equal(dsb_strerror(all_codes[i]), "unknown_error");
    for (size_t j = i + 1; j < n; ++j) {
      assert_int_not_equal(all_codes[i], all_codes[j]);
      assert_string_not_equal(dsb_strerror(all_codes[i]),
                              dsb_strerror(all_codes[j]));
    }
  }
}

static void test_brief_mux_labels(void **state) {
  (void)state;
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_FRAME_OVERSIZE),
                      "mux.reject.frame_oversize");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_INVALID_TRANSITION),
                      "mux.reject.invalid_stream_state_transition");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_CREDIT),
                      "mux.reject.window_credit_overflow_or_underflow");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_UNKNOWN_STREAM),
                      "mux.reject.unknown_stream_frame");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_UNAUTHENTICATED),
                      "mux.reject.unauthenticated_session");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_DUPLICATE_NAME),
                      "mux.reject.duplicate_stream_name");
  assert_string_equal(dsb_strerror(DSB_ERR_MUX_INVALID_NAME),
                      "mux.reject.invalid_stream_name");
  assert_string_equal(dsb_err_describe(DSB_ERR_IDENTITY_MISMATCH),
                      "identity mismatch");
}

static void test_unknown_code(void **state) {
  (void)state;
  assert_string_equal(dsb_strerror(-99999), "unknown_error");
  assert_string_equal(dsb_err_name(-99999), "DSB_ERR_UNKNOWN");
  assert_int_equal(dsb_err_is_fatal(-99999), 0);
  assert_int_equal(dsb_err_is_fatal(DSB_ERR_MUX_FRAME_OVERSIZE), 1);
  assert_int_equal(dsb_err_is_fatal(DSB_ERR_WOULD_BLOCK), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_labels_are_distinct),
      cmocka_unit_test(test_brief_mux_labels),
      cmocka_unit_test(test_unknown_code),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
