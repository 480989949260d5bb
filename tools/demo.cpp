#include <cstdio>
int main() { std::puts("demo: to be written"); }
