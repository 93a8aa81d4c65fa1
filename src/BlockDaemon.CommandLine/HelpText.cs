namespace BlockDaemon.CommandLine;

/// <summary>
/// The <c>--help</c> text. Its layout follows qsd's (usage line, one-line summary, options in
/// alphabetical order with their syntax and a description indented to column 25); the content
/// describes this daemon, which serves exports over NBD only and chardevs over sockets only.
/// </summary>
public static class HelpText
{
    /// <summary>The help text with <paramref name="programName"/> in the usage line; ends with a newline.</summary>
    public static string Render(string programName) =>
        $$"""
        Usage: {{programName}} [options]
        Block storage daemon compatible with qemu-storage-daemon

          -h, --help             print this help text and exit
          -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                                 choose which trace events to record, and where
          -V, --version          print the version and exit

          --blockdev [driver=]<driver>[,node-name=<N>][,read-only=on|off]
                     [,auto-read-only=on|off][,force-share=on|off]
                     [,discard=ignore|unmap][,detect-zeroes=on|off|unmap]
                     [,cache.direct=on|off][,cache.no-flush=on|off]
                     [,<driver options>...]
          --blockdev <JSON object>
                                 add a block node, as the blockdev-add command does

          --chardev socket,id=<id>,path=<path>[,server=on|off][,wait=on|off]
          --chardev socket,id=<id>,host=<host>,port=<port>[,server=on|off]
                    [,wait=on|off]
                                 add a socket character device, e.g. for --monitor
          --chardev help         list the character device backends

          --config <file>        read daemon settings from a JSON configuration file

          --daemonize            run in the background; the starting process exits
                                 once every option has been processed

          --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]
                   [,writable=on|off][,bitmap=<name>]
                                 export a block node over NBD (needs --nbd-server)

          --monitor [chardev=]<name>[,mode=control][,pretty=on|off]
                                 serve QMP on the character device <name>

          --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>
                       [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
          --nbd-server addr.type=unix,addr.path=<path>
                       [,tls-creds=<id>][,tls-authz=<id>][,max-connections=<n>]
                                 start the NBD server that --export uses

          --object help          list the object types that can be created
          --object <type>,help   list the properties of an object type
          --object [qom-type=]<type>,id=<id>[,<property>=<value>...]
                                 create an object; properties are applied in the
                                 order given

          --pidfile <path>       write the daemon's process ID to <path> once started

        Options take effect in the order given, so define a node, chardev or object
        before an option that refers to it.

        """.Replace("\r\n", "\n", StringComparison.Ordinal);
}
