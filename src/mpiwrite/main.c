/* placeholder: the MPI helper is built in src/mpiwrite/ */
#include <stdio.h>
int main(void)
{
	fprintf(stderr, "h5fs-mpiwrite: not built yet\n");
	return 1;
}
