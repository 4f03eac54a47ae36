import ObdClass
