/* Keeps the test support library non-empty while it has no helpers. */
typedef int dsb_testsupport_empty;
