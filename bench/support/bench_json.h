/*
 * bench_json.h - the shared results writer of every benchmark program.
 *
 * Each figure is printed as one line of the human-readable table and
 * appended to the results file named by the environment variable
 * DSB_BENCH_RESULTS (scripts/bench.sh sets it to build/bench/results.json)
 * as {"name", "value", "unit", "baseline", "baseline_value", "ratio"} with
 * ratio = value / baseline_value, both measured in the same run. The file
 * is rewritten atomically (temp file + rename) after every figure, so it is
 * a valid JSON array at all times. Without DSB_BENCH_RESULTS only the table
 * is printed.
 */
#ifndef DSB_BENCH_JSON_H
#define DSB_BENCH_JSON_H

#include <stdint.h>

typedef struct dsb_bench_result {
  const char *name; /* e.g. "session.record_seal_open.64KiB" */
  double value;
  const char *unit;     /* e.g. "MB/s", "handshakes/s" */
  const char *baseline; /* what value is compared with, e.g. "aead.raw.64KiB" */
  double baseline_value; /* same unit; <= 0 means no baseline (ratio null) */
} dsb_bench_result;

/* Print the table header once per program. */
void dsb_bench_print_header(const char *title);

/* Print |r| and append it to the results file. Returns 0, or -1 if the file
 * could not be read or written (the reason goes to stderr). */
int dsb_bench_record(const dsb_bench_result *r);

/* Monotonic clock in ns, for timing loops. */
uint64_t dsb_bench_now_ns(void);

#endif /* DSB_BENCH_JSON_H */
