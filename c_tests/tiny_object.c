/* One of the many small objects test_many_objects loads before libzmq:
 * what an interpreter's extension modules or a plugin are to the loader. */
int tiny_object_answer (void);
int tiny_object_answer (void)
{
    return 42;
}
