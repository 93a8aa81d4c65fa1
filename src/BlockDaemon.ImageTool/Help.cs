namespace BlockDaemon.ImageTool;

/// <summary>The --help text: qemu-img's syntax for the commands blockimg has, and its own plan-merge.</summary>
public static class Help
{
    public const string Text = """
        usage: blockimg [standard options] command [command options]
        BlockDaemon's offline disk image tool, with qemu-img's syntax and output.

        Command syntax:
          amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename
          bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval] [--no-drain] [-i aio] [-n] [-o offset] [--pattern=pattern_byte] [-q] [-s buffer_size] [-S step_size] [-t cache] [-U] [-w] filename
          bitmap (--merge SOURCE | --add | --remove | --clear | --enable | --disable)... [-b source_file [-F source_fmt]] [-g granularity] [-f fmt] filename bitmap
          check [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] filename
          commit [-q] [-f fmt] [-b base] [-d] [-p] filename
          compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] filename1 filename2
          convert [--bitmaps [--skip-broken-bitmaps]] [-c] [-f fmt] [-n] [-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-m num_coroutines] [-W] [-p] [-q] [-U] filename [filename2 [...]] output_filename
          create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u] [-o options] filename [size]
          info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename
          measure [--output=ofmt] [-O output_fmt] [-o options] [--size N | [-f fmt] [-U] filename]
          map [-f fmt] [--output=ofmt] [--start-offset=OFFSET] [--max-length=LEN] [-U] filename
          rebase [-f fmt] [-p] [-q] [-u] [-U] -b backing_file [-F backing_fmt] filename
          resize [-f fmt] [-q] [--shrink] filename [+ | -]size
          snapshot [-l | -a snapshot | -c snapshot | -d snapshot] [-q] [-U] filename
          plan-merge [-f fmt] [--output=ofmt] --remove-point N filename

        Command parameters:
          'filename' is a disk image filename
          'fmt' is the disk image format (qcow2 or raw); it is guessed when not given
          'size' is the disk image size in bytes; optional suffixes k, M, G, T, P, E
          'output_fmt' is the destination format
          'ofmt' is 'human' or 'json'

        plan-merge: reports, without changing anything, what removing one point in time from the
        backing chain of 'filename' would cost. Points count from the base image (point 0) up to
        'filename' itself (the top). Removing point K merges image K into a neighbour so that the
        images above it keep reading the same data:
          stream  copies into image K+1 every range image K allocates and K+1 does not
                  (block-stream into K+1 with base K-1); not possible for the top image
          commit  copies into image K-1 every range image K allocates
                  (block-commit of K into K-1); not possible for the base image
        Bytes of data (read and written) and bytes only marked as zero are reported apart, and
        the way that moves less data is named.

        """;
}
