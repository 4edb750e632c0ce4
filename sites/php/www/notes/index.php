<?php echo "This is notes/index.php: a directory named with its slash gets its index.\n";
