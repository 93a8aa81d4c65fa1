// blockimg runs inside the test process here (ImageTool.RunAsync). With test classes in
// parallel, another class's qemu-img spawn forks this process while blockimg closes an image:
// the child holds the open file description (and its OFD image locks) until its exec, so
// blockimg's next open of that file saw a "Failed to get ... lock" that a real, separate blockimg
// process never meets. One collection for the assembly runs the classes one after another.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly)]
