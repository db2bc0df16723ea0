/* never closed
int y;
