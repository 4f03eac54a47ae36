import LibCFS
